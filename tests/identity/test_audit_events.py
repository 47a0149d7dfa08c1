"""The audit log over HTTP: owners read their tenant's events, platform admins every tenant's,
nobody else any."""

from __future__ import annotations

import httpx

from mosaic.models import PlatformRole, ScopeRole
from tests.conftest import Member, MemberFactory, TenantFactory, TenantWithKey

EVENTS = "/api/v1/audit-events"


async def _role_change(client: httpx.AsyncClient, owner: Member, member: Member) -> None:
    response = await client.patch(
        f"/api/v1/members/{member.user_id}", json={"role": "editor"}, headers=owner.headers
    )
    assert response.status_code == 200, response.text


async def test_an_owner_reads_their_tenants_events_only(
    client: httpx.AsyncClient, make_tenant: TenantFactory, make_member: MemberFactory
) -> None:
    mine, theirs = await make_tenant(), await make_tenant()
    owner, member = (
        await make_member(mine, ScopeRole.OWNER),
        await make_member(mine, ScopeRole.VIEWER),
    )
    other_owner = await make_member(theirs, ScopeRole.OWNER)
    await _role_change(client, owner, member)
    await _role_change(client, other_owner, await make_member(theirs, ScopeRole.VIEWER))

    events = (await client.get(EVENTS, headers=owner.headers)).json()["data"]

    assert {event["tenant_id"] for event in events} == {str(mine.id)}
    assert [event["subject"] for event in events] == [f"user:{member.user_id}"]


async def test_a_platform_admin_reads_every_tenant_with_filters(
    client: httpx.AsyncClient,
    tenant: TenantWithKey,
    make_tenant: TenantFactory,
    make_member: MemberFactory,
) -> None:
    other = await make_tenant()
    admin = await make_member(tenant, None, platform_role=PlatformRole.ADMIN)
    other_owner = await make_member(other, ScopeRole.OWNER)
    await _role_change(client, other_owner, await make_member(other, ScopeRole.VIEWER))

    events = (
        await client.get(
            EVENTS,
            params={"action": "role_changed", "actor": str(other_owner.user_id)},
            headers=admin.headers,
        )
    ).json()["data"]
    later = (
        await client.get(EVENTS, params={"since": "2999-01-01T00:00:00Z"}, headers=admin.headers)
    ).json()["data"]

    assert [(e["tenant_id"], e["action"]) for e in events] == [(str(other.id), "role_changed")]
    assert later == []


async def test_an_editor_reads_no_events(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_member: MemberFactory
) -> None:
    owner, editor = await make_member(tenant), await make_member(tenant, ScopeRole.EDITOR)
    await _role_change(client, owner, await make_member(tenant, ScopeRole.VIEWER))

    events = (await client.get(EVENTS, headers=editor.headers)).json()["data"]
    owners = (await client.get(EVENTS, headers=owner.headers)).json()["data"]

    assert events == []
    assert len(owners) == 1


async def test_a_key_without_the_audit_scope_is_refused(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_member: MemberFactory
) -> None:
    owner = await make_member(tenant, ScopeRole.OWNER, scopes=frozenset({"tenant:read"}))

    response = await client.get(EVENTS, headers=owner.headers)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "MISSING_SCOPE"
