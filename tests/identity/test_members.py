"""Tenant members over HTTP: listing, role changes, removal, leaving, the last owner rule and
tenant isolation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.models import AuditEvent, MembershipState, ScopeRole
from tests.conftest import MemberFactory, TenantFactory, TenantWithKey

MEMBERS = "/api/v1/members"
Sessions = async_sessionmaker[AsyncSession]


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


async def _audited(sessions: Sessions, action: str, subject: str) -> list[AuditEvent]:
    async with sessions() as session:
        statement = select(AuditEvent).where(
            AuditEvent.action == action, AuditEvent.subject == subject
        )
        return list((await session.execute(statement)).scalars())


async def test_members_see_every_member_page_by_page(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_member: MemberFactory
) -> None:
    viewer = await make_member(tenant, ScopeRole.VIEWER)
    others = [await make_member(tenant, ScopeRole.CONTRIBUTOR) for _ in range(2)]

    first = (await client.get(MEMBERS, params={"limit": 2}, headers=viewer.headers)).json()
    cursor = first["pagination"]["next_cursor"]
    rest = (await client.get(MEMBERS, params={"cursor": cursor}, headers=viewer.headers)).json()

    listed = [member["user_id"] for member in first["data"] + rest["data"]]
    assert sorted(listed) == sorted(str(m.user_id) for m in [viewer, *others])
    assert first["pagination"]["has_more"] is True


async def test_a_pending_member_sees_only_their_own_membership(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_member: MemberFactory
) -> None:
    await make_member(tenant, ScopeRole.OWNER)
    pending = await make_member(tenant, ScopeRole.EDITOR, state=MembershipState.PENDING)

    listed = (await client.get(MEMBERS, headers=pending.headers)).json()["data"]

    assert [(m["user_id"], m["state"]) for m in listed] == [(str(pending.user_id), "pending")]


async def test_an_owner_changes_a_role_and_it_is_audited(
    client: httpx.AsyncClient,
    tenant: TenantWithKey,
    make_member: MemberFactory,
    owner_sessions: Sessions,
) -> None:
    owner = await make_member(tenant, ScopeRole.OWNER)
    member = await make_member(tenant, ScopeRole.VIEWER)

    response = await client.patch(
        f"{MEMBERS}/{member.user_id}", json={"role": "editor"}, headers=owner.headers
    )

    assert response.status_code == 200, response.text
    assert response.json()["role"] == "editor"
    [event] = await _audited(owner_sessions, "role_changed", f"user:{member.user_id}")
    assert (event.actor_user_id, event.details) == (
        owner.user_id,
        {"from": "viewer", "to": "editor"},
    )


async def test_an_editor_may_not_change_roles(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_member: MemberFactory
) -> None:
    editor = await make_member(tenant, ScopeRole.EDITOR)
    member = await make_member(tenant, ScopeRole.VIEWER)

    response = await client.patch(
        f"{MEMBERS}/{member.user_id}", json={"role": "owner"}, headers=editor.headers
    )

    assert _error(response, 403)["code"] == "ACCESS_DENIED"


async def test_the_last_owner_cannot_be_demoted_removed_or_leave(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_member: MemberFactory
) -> None:
    owner = await make_member(tenant, ScopeRole.OWNER)
    path = f"{MEMBERS}/{owner.user_id}"

    demoted = await client.patch(path, json={"role": "editor"}, headers=owner.headers)
    removed = await client.delete(path, headers=owner.headers)
    left = await client.delete(f"{MEMBERS}/me", headers=owner.headers)

    for response in (demoted, removed, left):
        assert _error(response, 409)["code"] == "LAST_OWNER"


async def test_an_owner_may_step_down_when_another_owner_remains(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_member: MemberFactory
) -> None:
    owner, other = [await make_member(tenant, ScopeRole.OWNER) for _ in range(2)]

    response = await client.patch(
        f"{MEMBERS}/{owner.user_id}", json={"role": "editor"}, headers=owner.headers
    )
    then = await client.patch(
        f"{MEMBERS}/{other.user_id}", json={"role": "editor"}, headers=other.headers
    )

    assert response.status_code == 200
    assert _error(then, 409)["code"] == "LAST_OWNER"


async def test_a_member_leaves_and_is_no_member_afterwards(
    client: httpx.AsyncClient,
    tenant: TenantWithKey,
    make_member: MemberFactory,
    owner_sessions: Sessions,
) -> None:
    member = await make_member(tenant, ScopeRole.CONTRIBUTOR)

    left = await client.delete(f"{MEMBERS}/me", headers=member.headers)
    after = await client.get("/api/v1/tenant", headers=member.headers)

    assert left.status_code == 204
    assert _error(after, 403)["details"] == {"reason": "not_a_member"}
    [event] = await _audited(owner_sessions, "member_removed", f"user:{member.user_id}")
    assert event.details == {"role": "contributor", "left": True}


async def test_an_owner_removes_a_member_but_a_contributor_may_not(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_member: MemberFactory
) -> None:
    owner = await make_member(tenant, ScopeRole.OWNER)
    contributor = await make_member(tenant, ScopeRole.CONTRIBUTOR)
    target = await make_member(tenant, ScopeRole.VIEWER)
    path = f"{MEMBERS}/{target.user_id}"

    refused = await client.delete(path, headers=contributor.headers)
    removed = await client.delete(path, headers=owner.headers)
    gone = await client.get(path, headers=owner.headers)

    assert _error(refused, 403)["code"] == "ACCESS_DENIED"
    assert removed.status_code == 204
    assert _error(gone, 404)["code"] == "MEMBER_NOT_FOUND"


@pytest.mark.parametrize(
    ("method", "body"), [("GET", None), ("PATCH", {"role": "viewer"}), ("DELETE", None)]
)
async def test_another_tenants_member_is_not_found(
    client: httpx.AsyncClient,
    make_tenant: TenantFactory,
    make_member: MemberFactory,
    method: str,
    body: dict[str, str] | None,
) -> None:
    mine, theirs = await make_tenant(), await make_tenant()
    owner = await make_member(mine, ScopeRole.OWNER)
    stranger = await make_member(theirs, ScopeRole.VIEWER)

    response = await client.request(
        method, f"{MEMBERS}/{stranger.user_id}", json=body, headers=owner.headers
    )

    assert _error(response, 404)["code"] == "MEMBER_NOT_FOUND"


async def test_member_reads_carry_an_etag(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_member: MemberFactory
) -> None:
    owner = await make_member(tenant, ScopeRole.OWNER)
    first = await client.get(MEMBERS, headers=owner.headers)

    again = await client.get(
        MEMBERS, headers={**owner.headers, "If-None-Match": first.headers["ETag"]}
    )

    assert again.status_code == 304
