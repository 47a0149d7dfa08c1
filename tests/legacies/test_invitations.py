"""Legacy invitations over HTTP: by email (mailed, for that address only) and by link (anyone
in the tenant), single use, expiry, revocation, and tenant isolation of tokens."""

from __future__ import annotations

import email
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import Select, select, update

from mosaic.app import create_app
from mosaic.core.database import DatabaseLocation
from mosaic.core.settings import Settings
from mosaic.legacies.invitation_service import hash_token
from mosaic.models import LegacyInvitation, MembershipState, ScopeRole
from tests.conftest import (
    Member,
    MemberFactory,
    TenantFactory,
    outbox_events,
    unique_client_address,
)
from tests.legacies.conftest import (
    ACCEPT,
    GrantFactory,
    Legacy,
    Sessions,
    error_of,
    mails_to,
)
from tests.mailers import BrokenMailer, CommitCheckingMailer

MemberMaker = Callable[..., Awaitable[Member]]
PUBLIC_URL = "https://mosaic.example.test"


async def _invite(client: httpx.AsyncClient, legacy: Legacy, **body: Any) -> dict[str, Any]:
    response = await client.post(
        f"{legacy.url}/invitations", json=body, headers=legacy.owner.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _accept(client: httpx.AsyncClient, member: Member, token: str) -> httpx.Response:
    return await client.post(ACCEPT, json={"token": token}, headers=member.headers)


async def test_an_email_invitation_is_mailed_and_accepted_by_its_addressee(
    app: FastAPI,
    client: httpx.AsyncClient,
    legacy: Legacy,
    community_member: MemberMaker,
    owner_sessions: Sessions,
) -> None:
    invitee = await community_member()
    someone_else = await community_member()

    created = await _invite(client, legacy, email=invitee.email.upper(), role="editor")
    mails = mails_to(app, invitee.email)
    refused = await _accept(client, someone_else, created["token"])
    accepted = await _accept(client, invitee, created["token"])

    assert (created["email"], created["role"]) == (invitee.email, "editor")
    assert created["accept_path"] == ACCEPT
    assert len(mails) == 1
    body = mails[0].get_payload(decode=True)
    assert isinstance(body, bytes)
    assert f"/legacy-invitations/accept?token={created['token']}" in body.decode()
    assert "Ada Lovelace" in mails[0]["Subject"]
    assert error_of(refused, 403)["code"] == "ACCESS_DENIED"
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["state"], accepted.json()["role"]) == ("active", "editor")
    invitation_events = await outbox_events(owner_sessions, UUID(created["id"]))
    assert [e.type for e in invitation_events] == [
        "LegacyInvitationCreated",
        "LegacyInvitationAccepted",
    ]
    assert invitation_events[0].payload == {
        "resource_id": created["id"],
        "invitation_id": created["id"],
        "legacy_id": str(legacy.id),
        "role": "editor",
        "by_email": True,
    }
    # The token is shown once, never stored nor sent anywhere else.
    assert all(created["token"] not in str(e.payload) for e in invitation_events)
    joined = (await outbox_events(owner_sessions, legacy.id))[-1]
    assert (joined.type, joined.payload["via"]) == ("MemberJoined", "invitation")


@pytest.fixture
async def public_client(
    settings: Settings, location: DatabaseLocation, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, Path]]:
    """An app with a public URL whose mailer writes into this test's folder."""
    mail_dir = tmp_path / "mail"
    configured = settings.model_copy(
        update={
            "server": settings.server.model_copy(update={"public_url": PUBLIC_URL}),
            "mail": settings.mail.model_copy(update={"mail_dir": mail_dir}),
        }
    )
    application = create_app(configured, location)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, client=unique_client_address())
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, mail_dir


async def test_the_mailed_link_uses_the_public_url(
    public_client: tuple[httpx.AsyncClient, Path], legacy: Legacy
) -> None:
    client, mail_dir = public_client

    created = await _invite(client, legacy, email="reader@example.test")

    [path] = list(mail_dir.glob("*.eml"))
    body = email.message_from_bytes(path.read_bytes()).get_payload(decode=True)
    assert isinstance(body, bytes)
    found = re.search(
        rf"{re.escape(PUBLIC_URL)}/legacy-invitations/accept\?token=(\S+)", body.decode()
    )
    assert found is not None
    assert found.group(1) == created["token"]


async def test_a_link_invitation_is_for_anyone_in_the_tenant_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    legacy: Legacy,
    community_member: MemberMaker,
) -> None:
    first, second = await community_member(), await community_member()
    created = await _invite(client, legacy, role="viewer")

    accepted = await _accept(client, first, created["token"])
    retried = await _accept(client, first, created["token"])
    used = await _accept(client, second, created["token"])

    assert created["email"] is None
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["role"] == "viewer"
    assert retried.status_code == 200
    assert retried.json() == accepted.json()
    assert error_of(used, 410)["code"] == "LEGACY_INVITATION_USED"


async def test_an_expired_invitation_cannot_be_accepted(
    client: httpx.AsyncClient,
    legacy: Legacy,
    community_member: MemberMaker,
    owner_sessions: Sessions,
) -> None:
    created = await _invite(client, legacy)
    async with owner_sessions() as session, session.begin():
        await session.execute(
            update(LegacyInvitation)
            .where(LegacyInvitation.id == UUID(created["id"]))
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )

    response = await _accept(client, await community_member(), created["token"])

    assert error_of(response, 410)["code"] == "LEGACY_INVITATION_EXPIRED"


async def test_a_revoked_invitation_cannot_be_accepted_and_an_accepted_one_not_revoked(
    client: httpx.AsyncClient, legacy: Legacy, community_member: MemberMaker
) -> None:
    revoked = await _invite(client, legacy)
    used = await _invite(client, legacy)
    await _accept(client, await community_member(), used["token"])
    url = f"{legacy.url}/invitations"

    first = await client.delete(f"{url}/{revoked['id']}", headers=legacy.owner.headers)
    again = await client.delete(f"{url}/{revoked['id']}", headers=legacy.owner.headers)
    accepted = await client.delete(f"{url}/{used['id']}", headers=legacy.owner.headers)
    refused = await _accept(client, await community_member(), revoked["token"])

    assert first.status_code == again.status_code == 204
    assert error_of(accepted, 409)["code"] == "LEGACY_INVITATION_ALREADY_ACCEPTED"
    assert error_of(refused, 410)["code"] == "LEGACY_INVITATION_REVOKED"


async def test_accepting_approves_a_pending_request_and_an_active_member_is_a_conflict(
    client: httpx.AsyncClient, legacy: Legacy, member_of: GrantFactory
) -> None:
    pending = await member_of(legacy, ScopeRole.VIEWER, state=MembershipState.PENDING)
    active = await member_of(legacy, ScopeRole.VIEWER)

    approved = await _accept(
        client, pending, (await _invite(client, legacy, role="editor"))["token"]
    )
    conflict = await _accept(client, active, (await _invite(client, legacy))["token"])

    assert (approved.json()["state"], approved.json()["role"]) == ("active", "editor")
    assert error_of(conflict, 409)["code"] == "ALREADY_A_LEGACY_MEMBER"


async def test_an_unknown_or_other_tenants_token_is_not_found(
    client: httpx.AsyncClient,
    legacy: Legacy,
    make_tenant: TenantFactory,
    make_member: MemberFactory,
) -> None:
    created = await _invite(client, legacy)
    outsider = await make_member(await make_tenant(), ScopeRole.OWNER)

    unknown = await _accept(client, legacy.owner, "x" * 43)
    foreign = await _accept(client, outsider, created["token"])

    assert error_of(unknown, 404)["code"] == "LEGACY_INVITATION_NOT_FOUND"
    assert error_of(foreign, 404)["code"] == "LEGACY_INVITATION_NOT_FOUND"


async def test_owners_list_invitations_page_by_page_without_tokens(
    client: httpx.AsyncClient, legacy: Legacy
) -> None:
    made = [await _invite(client, legacy) for _ in range(3)]
    url = f"{legacy.url}/invitations"

    first = (await client.get(url, params={"limit": 2}, headers=legacy.owner.headers)).json()
    rest = (
        await client.get(
            url,
            params={"cursor": first["pagination"]["next_cursor"]},
            headers=legacy.owner.headers,
        )
    ).json()

    listed = first["data"] + rest["data"]
    assert [i["id"] for i in listed] == [i["id"] for i in made]
    assert all("token" not in invitation for invitation in listed)


async def test_an_invitation_create_is_idempotent(
    client: httpx.AsyncClient, legacy: Legacy
) -> None:
    headers = {**legacy.owner.headers, "Idempotency-Key": "invite-once"}
    url = f"{legacy.url}/invitations"

    first = await client.post(url, json={"role": "viewer"}, headers=headers)
    again = await client.post(url, json={"role": "viewer"}, headers=headers)
    listed = await client.get(url, headers=legacy.owner.headers)

    assert first.json() == again.json()
    assert len(listed.json()["data"]) == 1


def _stored(token: str) -> Select[UUID]:
    return select(LegacyInvitation.id).where(LegacyInvitation.token_hash == hash_token(token))


async def test_the_invitation_mail_leaves_only_after_the_invitation_is_committed(
    app: FastAPI,
    client: httpx.AsyncClient,
    legacy: Legacy,
    owner_sessions: Sessions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mailer = CommitCheckingMailer(owner_sessions, _stored)
    monkeypatch.setattr(app.state.identity, "mailer", mailer)

    await _invite(client, legacy, email="after-commit@example.test")

    assert mailer.committed_when_sent == [True]


async def test_a_mail_that_cannot_be_sent_leaves_a_working_invitation(
    app: FastAPI,
    client: httpx.AsyncClient,
    legacy: Legacy,
    community_member: MemberMaker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    invitee = await community_member()
    monkeypatch.setattr(app.state.identity, "mailer", BrokenMailer())

    created = await _invite(client, legacy, email=invitee.email)
    accepted = await _accept(client, invitee, created["token"])

    assert accepted.status_code == 200, accepted.text
