"""Onboarding by invitation: registration and login carry the mailed token, join the
invitation's tenant with its role, and a bad token joins nothing (registration) or is a clear
4xx only after a correct password (login). Invite-only installations depend on this."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.core.database import Database
from mosaic.core.ids import new_id
from mosaic.identity.membership_repository import accept_invitation_by_hash
from mosaic.identity.membership_service import hash_token
from mosaic.models import (
    AuditEvent,
    MembershipState,
    ScopeRole,
    TenantInvitation,
    TenantMembership,
    User,
)
from tests.conftest import Member, MemberFactory, TenantWithKey
from tests.identity.conftest import PASSWORD, audit_events, default_tenant_id, login

REGISTER = "/api/v1/auth/register"
INVITATIONS = "/api/v1/invitations"
Sessions = async_sessionmaker[AsyncSession]
ClientWith = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def _database(app: FastAPI) -> Database:
    database: Database = app.state.database
    return database


def _email() -> str:
    return f"invitee-{uuid4().hex[:12]}@example.com"


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


@pytest.fixture
async def invite_only(client_with: ClientWith) -> AsyncIterator[httpx.AsyncClient]:
    async with client_with(identity={"registration_mode": "invite_only"}) as client:
        yield client


@pytest.fixture
async def owner(tenant: TenantWithKey, make_member: MemberFactory) -> Member:
    return await make_member(tenant, ScopeRole.OWNER)


async def _invite(
    client: httpx.AsyncClient, owner: Member, email: str, role: str = "editor"
) -> dict[str, Any]:
    response = await client.post(
        INVITATIONS, json={"email": email, "role": role}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _register(client: httpx.AsyncClient, email: str, **extra: Any) -> None:
    body = {"email": email, "password": PASSWORD, **extra}
    response = await client.post(REGISTER, json=body)
    assert response.status_code == 202, response.text


async def _memberships(sessions: Sessions, email: str) -> list[tuple[UUID, str, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(TenantMembership.tenant_id, TenantMembership.role, TenantMembership.state)
            .join(User, User.id == TenantMembership.user_id)
            .where(User.email == email.lower())
        )
        return [(tenant_id, role.value, state.value) for tenant_id, role, state in rows]


async def _invitation(sessions: Sessions, invitation_id: str) -> TenantInvitation:
    async with sessions() as session:
        found = await session.get(TenantInvitation, UUID(invitation_id))
    assert found is not None
    return found


async def _set(sessions: Sessions, invitation_id: str, **values: Any) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(TenantInvitation)
            .where(TenantInvitation.id == UUID(invitation_id))
            .values(**values)
        )


async def _acceptances(sessions: Sessions, invitation_id: str) -> int:
    async with sessions() as session:
        count: int = (
            await session.execute(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.action == "invitation_accepted",
                    AuditEvent.subject == f"invitation:{invitation_id}",
                )
            )
        ).scalar_one()
    return count


async def test_invite_only_registration_with_a_token_joins_with_the_invitations_role(
    invite_only: httpx.AsyncClient,
    tenant: TenantWithKey,
    owner: Member,
    owner_sessions: Sessions,
) -> None:
    email = _email()
    created = await _invite(invite_only, owner, email.upper(), role="editor")

    await _register(invite_only, email, invitation_token=created["token"])
    signed_in = await login(invite_only, email, PASSWORD)
    assert signed_in.status_code == 200, signed_in.text
    body = signed_in.json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    acting_in = await invite_only.get("/api/v1/tenant", headers=headers)
    member = await invite_only.get(f"/api/v1/members/{body['user']['id']}", headers=owner.headers)

    assert body["tenant_id"] == str(tenant.id)
    assert acting_in.json()["id"] == str(tenant.id)
    assert (member.json()["role"], member.json()["state"]) == ("editor", "active")
    stored = await _invitation(owner_sessions, created["id"])
    assert stored.accepted_at is not None
    assert str(stored.accepted_by) == body["user"]["id"]
    assert await _acceptances(owner_sessions, created["id"]) == 1


async def test_registration_with_another_emails_token_joins_nothing(
    invite_only: httpx.AsyncClient, owner: Member, owner_sessions: Sessions
) -> None:
    created = await _invite(invite_only, owner, _email())
    email = _email()

    await _register(invite_only, email, invitation_token=created["token"])

    assert await _memberships(owner_sessions, email) == []
    assert (await _invitation(owner_sessions, created["id"])).accepted_at is None
    assert _error(await login(invite_only, email, PASSWORD), 403)["code"] == "NO_TENANT_ACCESS"


@pytest.mark.parametrize("spoil", ["expired", "revoked", "used"])
async def test_registration_with_a_spent_token_joins_nothing(
    invite_only: httpx.AsyncClient,
    owner: Member,
    owner_sessions: Sessions,
    spoil: str,
) -> None:
    email = _email()
    created = await _invite(invite_only, owner, email)
    now = datetime.now(UTC)
    changes: dict[str, dict[str, Any]] = {
        "expired": {"expires_at": now - timedelta(minutes=1)},
        "revoked": {"revoked_at": now},
        "used": {"accepted_at": now, "accepted_by": owner.user_id},
    }
    await _set(owner_sessions, created["id"], **changes[spoil])

    await _register(invite_only, email, invitation_token=created["token"])

    assert await _memberships(owner_sessions, email) == []


async def test_an_existing_user_without_membership_logs_in_with_a_token(
    invite_only: httpx.AsyncClient,
    tenant: TenantWithKey,
    owner: Member,
    owner_sessions: Sessions,
) -> None:
    email = _email()
    await _register(invite_only, email)  # invite-only: an account, no tenant
    assert _error(await login(invite_only, email, PASSWORD), 403)["code"] == "NO_TENANT_ACCESS"
    created = await _invite(invite_only, owner, email, role="viewer")

    response = await login(invite_only, email, PASSWORD, invitation_token=created["token"])
    again = await login(invite_only, email, PASSWORD)

    assert response.status_code == 200, response.text
    assert response.json()["tenant_id"] == str(tenant.id)
    assert again.json()["tenant_id"] == str(tenant.id)
    assert await _memberships(owner_sessions, email) == [(tenant.id, "viewer", "active")]
    assert await _acceptances(owner_sessions, created["id"]) == 1


async def test_a_pending_member_logging_in_with_a_token_is_activated(
    client: httpx.AsyncClient,
    tenant: TenantWithKey,
    owner: Member,
    owner_sessions: Sessions,
) -> None:
    email = _email()
    await _register(client, email)  # open mode: a contributor of the default tenant
    created = await _invite(client, owner, email, role="editor")
    async with owner_sessions() as session, session.begin():
        user_id = (await session.execute(select(User.id).where(User.email == email))).scalar_one()
        session.add(
            TenantMembership(
                tenant_id=tenant.id,
                user_id=user_id,
                role=ScopeRole.VIEWER,
                state=MembershipState.PENDING,
            )
        )

    response = await login(client, email, PASSWORD, invitation_token=created["token"])

    assert response.json()["tenant_id"] == str(tenant.id)
    assert (tenant.id, "editor", "active") in await _memberships(owner_sessions, email)


@pytest.mark.parametrize(
    ("spoil", "status", "code"),
    [
        ("expired", 410, "INVITATION_EXPIRED"),
        ("revoked", 410, "INVITATION_REVOKED"),
        ("used", 410, "INVITATION_USED"),
        ("other_email", 404, "INVITATION_NOT_FOUND"),
        ("unknown", 404, "INVITATION_NOT_FOUND"),
    ],
)
async def test_login_with_a_bad_token_says_why_only_after_the_password(
    invite_only: httpx.AsyncClient,
    owner: Member,
    owner_sessions: Sessions,
    spoil: str,
    status: int,
    code: str,
) -> None:
    email = _email()
    await _register(invite_only, email)
    created = await _invite(invite_only, owner, _email() if spoil == "other_email" else email)
    token = created["token"] if spoil != "unknown" else "x" * 43
    now = datetime.now(UTC)
    changes: dict[str, dict[str, Any]] = {
        "expired": {"expires_at": now - timedelta(minutes=1)},
        "revoked": {"revoked_at": now},
        "used": {"accepted_at": now, "accepted_by": owner.user_id},
    }
    if spoil in changes:
        await _set(owner_sessions, created["id"], **changes[spoil])

    wrong = await login(invite_only, email, "not the password", invitation_token=token)
    right = await login(invite_only, email, PASSWORD, invitation_token=token)

    assert _error(wrong, 401)["code"] == "INVALID_CREDENTIALS"
    assert _error(right, status)["code"] == code
    assert await _memberships(owner_sessions, email) == []
    failures = await audit_events(owner_sessions, subject=f"email:{email}")
    reasons = [event.reason for event in failures if event.action == "login_failed"]
    assert reasons == ["wrong_password", code.lower()]


async def test_a_member_already_in_the_tenant_gets_409(
    client: httpx.AsyncClient, tenant: TenantWithKey, owner: Member, make_account: Any
) -> None:
    account = await make_account(tenant_id=tenant.id)
    created = await _invite(client, owner, account.email)

    response = await login(client, account.email, PASSWORD, invitation_token=created["token"])

    assert _error(response, 409)["code"] == "ALREADY_A_MEMBER"


async def test_a_token_is_spent_once_even_by_concurrent_logins(
    invite_only: httpx.AsyncClient,
    tenant: TenantWithKey,
    owner: Member,
    owner_sessions: Sessions,
) -> None:
    email = _email()
    await _register(invite_only, email)
    created = await _invite(invite_only, owner, email)

    answers = await asyncio.gather(
        *(login(invite_only, email, PASSWORD, invitation_token=created["token"]) for _ in range(4))
    )

    # Every attempt is the addressee's own: the later ones see it already accepted by them.
    assert {response.status_code for response in answers} == {200}
    assert {response.json()["tenant_id"] for response in answers} == {str(tenant.id)}
    assert await _memberships(owner_sessions, email) == [(tenant.id, "editor", "active")]
    assert await _acceptances(owner_sessions, created["id"]) == 1


async def test_someone_else_cannot_reuse_an_accepted_token(
    invite_only: httpx.AsyncClient, owner: Member, owner_sessions: Sessions
) -> None:
    email = _email()
    created = await _invite(invite_only, owner, email)
    await _register(invite_only, email, invitation_token=created["token"])
    other = _email()
    await _register(invite_only, other)

    response = await login(invite_only, other, PASSWORD, invitation_token=created["token"])

    # Addressed to someone else: the other user learns nothing about the invitation.
    assert _error(response, 404)["code"] == "INVITATION_NOT_FOUND"
    assert await _memberships(owner_sessions, other) == []


@pytest.mark.parametrize("mode", ["open", "own_tenant"])
async def test_other_modes_with_a_token_join_the_invitations_tenant_instead(
    client_with: ClientWith,
    tenant: TenantWithKey,
    owner: Member,
    owner_sessions: Sessions,
    mode: str,
) -> None:
    email = _email()
    async with client_with(identity={"registration_mode": mode}) as client:
        created = await _invite(client, owner, email, role="viewer")

        await _register(client, email, invitation_token=created["token"])

    assert await _memberships(owner_sessions, email) == [(tenant.id, "viewer", "active")]
    assert tenant.id != await default_tenant_id(owner_sessions)


async def test_open_registration_with_a_bad_token_joins_the_default_tenant(
    client: httpx.AsyncClient, owner_sessions: Sessions
) -> None:
    email = _email()

    await _register(client, email, invitation_token="y" * 43)

    default = await default_tenant_id(owner_sessions)
    assert await _memberships(owner_sessions, email) == [(default, "contributor", "active")]


async def test_the_accept_function_serialises_two_accepts_of_one_token(
    app: FastAPI, tenant: TenantWithKey, owner_sessions: Sessions
) -> None:
    token = f"token-{uuid4().hex}"
    user_id, email = new_id(), _email()
    async with owner_sessions() as session, session.begin():
        session.add(User(id=user_id, email=email, display_name=email))
        await session.flush()
        session.add(
            TenantInvitation(
                id=new_id(),
                tenant_id=tenant.id,
                email=email.upper(),
                role=ScopeRole.CONTRIBUTOR,
                token_hash=hash_token(token),
                expires_at=datetime.now(UTC) + timedelta(hours=1),
            )
        )
    sessionmaker = _database(app).sessionmaker  # the application role, no tenant bound

    async def accept() -> str:
        async with sessionmaker() as session, session.begin():
            result = await accept_invitation_by_hash(
                session, token_hash=hash_token(token), user_id=user_id
            )
        return result.outcome

    async with sessionmaker() as first, first.begin():
        held = await accept_invitation_by_hash(first, token_hash=hash_token(token), user_id=user_id)
        second = asyncio.create_task(accept())
        await asyncio.sleep(0.5)
        # The first transaction holds the invitation's row lock: the second waits for it.
        assert not second.done()

    assert held.outcome == "accepted"
    assert await second == "already_accepted"
    assert await _memberships(owner_sessions, email) == [(tenant.id, "contributor", "active")]
