"""Invitations over HTTP: created by owners with a token shown once, accepted by the addressee
from any tenant (single use, expiring, revocable), and isolated between tenants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.models import AuditEvent, MembershipState, ScopeRole, TenantInvitation
from tests.conftest import Member, MemberFactory, TenantFactory, TenantWithKey

INVITATIONS = "/api/v1/invitations"
ACCEPT = f"{INVITATIONS}/accept"
Sessions = async_sessionmaker[AsyncSession]


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


async def _invite(
    client: httpx.AsyncClient, owner: Member, email: str, role: str = "editor"
) -> dict[str, Any]:
    response = await client.post(
        INVITATIONS, json={"email": email, "role": role}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture
async def owner(tenant: TenantWithKey, make_member: MemberFactory) -> Member:
    return await make_member(tenant, ScopeRole.OWNER)


@pytest.fixture
async def invitee(make_tenant: TenantFactory, make_member: MemberFactory) -> Member:
    """A user from elsewhere: their only key acts in a tenant of their own."""
    return await make_member(await make_tenant(), ScopeRole.OWNER)


async def test_an_owner_invites_and_the_token_is_shown_once(
    client: httpx.AsyncClient, owner: Member, owner_sessions: Sessions
) -> None:
    created = await _invite(client, owner, "New.Person@Example.test")

    listed = (await client.get(INVITATIONS, headers=owner.headers)).json()["data"]
    read = (await client.get(f"{INVITATIONS}/{created['id']}", headers=owner.headers)).json()

    assert created["email"] == "new.person@example.test"
    assert len(created["token"]) >= 40
    assert [item["id"] for item in listed] == [created["id"]]
    assert "token" not in listed[0]
    assert "token" not in read
    async with owner_sessions() as session:
        stored = await session.get(TenantInvitation, UUID(created["id"]))
    assert stored is not None
    assert stored.token_hash != created["token"]
    assert len(stored.token_hash) == 64


async def test_an_editor_may_not_invite(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_member: MemberFactory
) -> None:
    editor = await make_member(tenant, ScopeRole.EDITOR)

    response = await client.post(
        INVITATIONS, json={"email": "x@example.test"}, headers=editor.headers
    )

    assert _error(response, 403)["code"] == "ACCESS_DENIED"


async def test_the_addressee_accepts_from_another_tenant_and_joins(
    client: httpx.AsyncClient,
    tenant: TenantWithKey,
    owner: Member,
    invitee: Member,
    owner_sessions: Sessions,
) -> None:
    created = await _invite(client, owner, invitee.email.upper(), role="editor")

    accepted = await client.post(ACCEPT, json={"token": created["token"]}, headers=invitee.headers)
    retried = await client.post(ACCEPT, json={"token": created["token"]}, headers=invitee.headers)
    member = await client.get(f"/api/v1/members/{invitee.user_id}", headers=owner.headers)

    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["tenant_id"] == str(tenant.id)
    assert (accepted.json()["role"], accepted.json()["state"]) == ("editor", "active")
    assert retried.json() == accepted.json()
    assert member.json()["role"] == "editor"
    async with owner_sessions() as session:
        [event] = (
            await session.execute(
                select(AuditEvent).where(
                    AuditEvent.action == "invitation_accepted",
                    AuditEvent.subject == f"invitation:{created['id']}",
                )
            )
        ).scalars()
    assert (event.tenant_id, event.actor_user_id) == (tenant.id, invitee.user_id)


async def test_a_pending_member_is_approved_by_an_invitation(
    client: httpx.AsyncClient, tenant: TenantWithKey, owner: Member, make_member: MemberFactory
) -> None:
    pending = await make_member(tenant, ScopeRole.VIEWER, state=MembershipState.PENDING)
    created = await _invite(client, owner, pending.email, role="contributor")

    accepted = await client.post(ACCEPT, json={"token": created["token"]}, headers=pending.headers)

    assert (accepted.json()["role"], accepted.json()["state"]) == ("contributor", "active")


async def test_an_active_member_cannot_accept_again(
    client: httpx.AsyncClient, tenant: TenantWithKey, owner: Member, make_member: MemberFactory
) -> None:
    member = await make_member(tenant, ScopeRole.VIEWER)
    created = await _invite(client, owner, member.email)

    response = await client.post(ACCEPT, json={"token": created["token"]}, headers=member.headers)

    assert _error(response, 409)["code"] == "ALREADY_A_MEMBER"


async def test_someone_else_cannot_use_the_token(
    client: httpx.AsyncClient, owner: Member, invitee: Member
) -> None:
    created = await _invite(client, owner, "somebody.else@example.test")

    response = await client.post(ACCEPT, json={"token": created["token"]}, headers=invitee.headers)

    assert _error(response, 403)["code"] == "ACCESS_DENIED"


async def test_an_unknown_token_is_not_found(client: httpx.AsyncClient, invitee: Member) -> None:
    response = await client.post(ACCEPT, json={"token": "x" * 43}, headers=invitee.headers)

    assert _error(response, 404)["code"] == "INVITATION_NOT_FOUND"


async def test_an_expired_invitation_is_gone(
    client: httpx.AsyncClient, owner: Member, invitee: Member, owner_sessions: Sessions
) -> None:
    created = await _invite(client, owner, invitee.email)
    async with owner_sessions() as session, session.begin():
        await session.execute(
            update(TenantInvitation)
            .where(TenantInvitation.id == UUID(created["id"]))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    response = await client.post(ACCEPT, json={"token": created["token"]}, headers=invitee.headers)

    assert _error(response, 410)["code"] == "INVITATION_EXPIRED"


async def test_a_revoked_invitation_is_gone(
    client: httpx.AsyncClient, owner: Member, invitee: Member
) -> None:
    created = await _invite(client, owner, invitee.email)
    revoked = await client.delete(f"{INVITATIONS}/{created['id']}", headers=owner.headers)

    response = await client.post(ACCEPT, json={"token": created["token"]}, headers=invitee.headers)

    assert revoked.status_code == 204
    assert _error(response, 410)["code"] == "INVITATION_REVOKED"


async def test_an_invitation_used_by_someone_else_is_gone(
    client: httpx.AsyncClient, owner: Member, invitee: Member, owner_sessions: Sessions
) -> None:
    created = await _invite(client, owner, invitee.email)
    async with owner_sessions() as session, session.begin():
        await session.execute(
            update(TenantInvitation)
            .where(TenantInvitation.id == UUID(created["id"]))
            .values(accepted_at=datetime.now(UTC), accepted_by=owner.user_id)
        )

    response = await client.post(ACCEPT, json={"token": created["token"]}, headers=invitee.headers)

    assert _error(response, 410)["code"] == "INVITATION_USED"


async def test_an_accepted_invitation_cannot_be_revoked(
    client: httpx.AsyncClient, owner: Member, invitee: Member
) -> None:
    created = await _invite(client, owner, invitee.email)
    await client.post(ACCEPT, json={"token": created["token"]}, headers=invitee.headers)

    response = await client.delete(f"{INVITATIONS}/{created['id']}", headers=owner.headers)

    assert _error(response, 409)["code"] == "INVITATION_ALREADY_ACCEPTED"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_another_tenants_invitation_is_not_found(
    client: httpx.AsyncClient,
    owner: Member,
    make_tenant: TenantFactory,
    make_member: MemberFactory,
    method: str,
) -> None:
    created = await _invite(client, owner, "target@example.test")
    stranger = await make_member(await make_tenant(), ScopeRole.OWNER)

    response = await client.request(
        method, f"{INVITATIONS}/{created['id']}", headers=stranger.headers
    )
    theirs = (await client.get(INVITATIONS, headers=stranger.headers)).json()["data"]

    assert _error(response, 404)["code"] == "INVITATION_NOT_FOUND"
    assert theirs == []
