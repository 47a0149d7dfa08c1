"""Identity writes put a domain event in the outbox in their own transaction: with the tenant
the change belongs to, ids and roles only (never an email), and none for a refused write."""

from __future__ import annotations

import email
import json
import re
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx

from mosaic.models import OutboxEvent, PlatformRole, ScopeRole, TenantMembership
from tests.conftest import MemberFactory, TenantFactory, TenantWithKey, outbox_events
from tests.identity.conftest import (
    PASSWORD,
    AccountFactory,
    AppClientFactory,
    Sessions,
    SignedIn,
    SignInFactory,
    default_tenant_id,
    login,
)

INVITATIONS = "/api/v1/invitations"
MEMBERS = "/api/v1/members"
KEYS = "/api/v1/api-keys"


def _types(events: list[OutboxEvent]) -> list[str]:
    return [event.type for event in events]


def _no_personal_data(events: list[OutboxEvent], *secrets: str) -> None:
    for event in events:
        text = json.dumps(event.payload).lower()
        for secret in secrets:
            assert secret.lower() not in text, (event.type, event.payload)


async def test_registration_records_the_user_and_the_membership_but_login_nothing(
    client: httpx.AsyncClient, owner_sessions: Sessions
) -> None:
    address = f"new-{uuid4().hex[:12]}@example.com"
    # Names with letters beyond a-f: a hex id in a payload cannot contain them by chance.
    body = {"email": address, "password": PASSWORD, "first_name": "Ysolde", "last_name": "Lovelace"}
    assert (await client.post("/api/v1/auth/register", json=body)).status_code == 202
    signed_in = await login(client, address, PASSWORD)
    user_id = signed_in.json()["user"]["id"]

    events = await outbox_events(owner_sessions, user_id)

    default = await default_tenant_id(owner_sessions)
    assert _types(events) == ["TenantMemberJoined", "UserRegistered"]
    assert all(event.tenant_id == default for event in events)
    assert all(event.actor_id == user_id for event in events)
    assert events[0].payload["role"] == "contributor"
    assert events[0].payload["via"] == "registration"
    assert events[1].resource_kind == "user"
    _no_personal_data(events, address, "Ysolde", "Lovelace", PASSWORD)


async def test_registering_a_taken_email_records_nothing(
    client: httpx.AsyncClient, make_account: AccountFactory, owner_sessions: Sessions
) -> None:
    account = await make_account()
    body = {"email": account.email, "password": PASSWORD, "first_name": "A", "last_name": "B"}

    assert (await client.post("/api/v1/auth/register", json=body)).status_code == 202

    assert await outbox_events(owner_sessions, account.id) == []


async def test_a_role_change_is_recorded_in_the_tenant_and_a_refused_one_is_not(
    client: httpx.AsyncClient,
    tenant: TenantWithKey,
    make_member: MemberFactory,
    owner_sessions: Sessions,
) -> None:
    owner = await make_member(tenant, ScopeRole.OWNER)
    member = await make_member(tenant, ScopeRole.VIEWER)

    changed = await client.patch(
        f"{MEMBERS}/{member.user_id}", json={"role": "editor"}, headers=owner.headers
    )
    refused = await client.patch(
        f"{MEMBERS}/{owner.user_id}", json={"role": "editor"}, headers=owner.headers
    )

    assert changed.status_code == 200, changed.text
    assert refused.status_code == 409, refused.text
    [event] = await outbox_events(owner_sessions, member.user_id)
    assert (event.type, event.tenant_id, event.actor_id) == (
        "TenantMemberRoleChanged",
        tenant.id,
        str(owner.user_id),
    )
    assert event.payload["previous_role"] == "viewer"
    assert event.payload["role"] == "editor"
    assert await outbox_events(owner_sessions, owner.user_id) == []


async def test_a_removal_is_recorded(
    client: httpx.AsyncClient,
    tenant: TenantWithKey,
    make_member: MemberFactory,
    owner_sessions: Sessions,
) -> None:
    owner = await make_member(tenant, ScopeRole.OWNER)
    member = await make_member(tenant, ScopeRole.CONTRIBUTOR)

    response = await client.delete(f"{MEMBERS}/{member.user_id}", headers=owner.headers)

    assert response.status_code == 204, response.text
    [event] = await outbox_events(owner_sessions, member.user_id)
    assert (event.type, event.tenant_id) == ("TenantMemberRemoved", tenant.id)
    assert event.payload["role"] == "contributor"
    assert event.payload["left"] is False


async def test_invitations_created_accepted_and_revoked_are_recorded_without_the_email(
    client: httpx.AsyncClient,
    tenant: TenantWithKey,
    make_tenant: TenantFactory,
    make_member: MemberFactory,
    owner_sessions: Sessions,
) -> None:
    owner = await make_member(tenant, ScopeRole.OWNER)
    invitee = await make_member(await make_tenant(), ScopeRole.OWNER)
    other = f"other-{uuid4().hex[:8]}@example.test"

    accepted = (
        await client.post(
            INVITATIONS, json={"email": invitee.email, "role": "editor"}, headers=owner.headers
        )
    ).json()
    revoked = (await client.post(INVITATIONS, json={"email": other}, headers=owner.headers)).json()
    joined = await client.post(
        f"{INVITATIONS}/accept", json={"token": accepted["token"]}, headers=invitee.headers
    )
    gone = await client.delete(f"{INVITATIONS}/{revoked['id']}", headers=owner.headers)

    assert joined.status_code == 200, joined.text
    assert gone.status_code == 204, gone.text
    spent = await outbox_events(owner_sessions, accepted["id"])
    assert _types(spent) == ["TenantInvitationCreated", "TenantInvitationAccepted"]
    assert spent[1].actor_id == str(invitee.user_id)
    assert spent[1].payload["user_id"] == str(invitee.user_id)
    cancelled = await outbox_events(owner_sessions, revoked["id"])
    assert _types(cancelled) == ["TenantInvitationCreated", "TenantInvitationRevoked"]
    membership = await outbox_events(owner_sessions, invitee.user_id)
    assert [(e.type, e.payload["via"], e.payload["role"]) for e in membership] == [
        ("TenantMemberJoined", "invitation", "editor")
    ]
    everything = spent + cancelled + membership
    assert all(event.tenant_id == tenant.id for event in everything)
    _no_personal_data(everything, invitee.email, other, accepted["token"])


async def test_api_keys_created_and_revoked_are_recorded_with_their_scopes_only(
    client: httpx.AsyncClient, tenant: TenantWithKey, owner_sessions: Sessions
) -> None:
    created = await client.post(
        KEYS, json={"name": "ci", "scopes": ["tenant:read"]}, headers=tenant.headers
    )
    key: dict[str, Any] = created.json()
    revoked = await client.delete(f"{KEYS}/{key['id']}", headers=tenant.headers)
    invalid = await client.post(KEYS, json={"name": ""}, headers=tenant.headers)

    assert created.status_code == 201, created.text
    assert revoked.status_code in (200, 204), revoked.text
    assert invalid.status_code == 422
    events = await outbox_events(owner_sessions, key["id"])
    assert _types(events) == ["ApiKeyCreated", "ApiKeyRevoked"]
    assert all(event.tenant_id == tenant.id for event in events)
    assert events[0].payload["scopes"] == ["tenant:read"]
    _no_personal_data(events, key["key"], key["prefix"])


async def test_a_profile_update_is_recorded_in_the_bound_tenant_without_values(
    client: httpx.AsyncClient, signed_in: SignedIn, owner_sessions: Sessions
) -> None:
    response = await client.patch(
        "/api/v1/me", json={"first_name": "Grace"}, headers=signed_in.headers
    )
    refused = await client.patch(
        "/api/v1/me", json={"display_name": None}, headers=signed_in.headers
    )

    assert response.status_code == 200, response.text
    assert refused.status_code == 422, refused.text
    [event] = await outbox_events(owner_sessions, signed_in.account.id)
    assert (event.type, event.tenant_id, event.actor_id) == (
        "UserUpdated",
        signed_in.account.tenant_id,
        str(signed_in.account.id),
    )
    assert event.payload["changed"] == ["first_name"]
    _no_personal_data([event], "Grace", signed_in.account.email)


async def test_a_password_reset_is_recorded_once_in_each_tenant_of_the_user(
    client_with: AppClientFactory,
    make_account: AccountFactory,
    make_tenant: TenantFactory,
    owner_sessions: Sessions,
    tmp_path: Path,
) -> None:
    account = await make_account()
    elsewhere = await make_tenant()
    async with owner_sessions() as session, session.begin():
        session.add(
            TenantMembership(tenant_id=elsewhere.id, user_id=account.id, role=ScopeRole.VIEWER)
        )
    mail_dir = tmp_path / "mail"
    async with client_with(mail={"mail_dir": str(mail_dir)}) as client:
        await client.post("/api/v1/auth/password-reset", json={"email": account.email})
        [path] = sorted(mail_dir.glob("*.eml"))
        body = email.message_from_bytes(path.read_bytes()).get_payload(decode=True)
        assert isinstance(body, bytes)
        found = re.search(r"reset-password\?token=([A-Za-z0-9_-]+)", body.decode())
        assert found is not None
        confirm = {"token": found.group(1), "new_password": "a brand new passphrase"}
        first = await client.post("/api/v1/auth/password-reset/confirm", json=confirm)
        again = await client.post("/api/v1/auth/password-reset/confirm", json=confirm)

    assert first.status_code == 204, first.text
    assert again.status_code == 400, again.text
    events = await outbox_events(owner_sessions, account.id)
    assert _types(events) == ["PasswordChanged", "PasswordChanged"]
    assert {event.tenant_id for event in events} == {account.tenant_id, elsewhere.id}
    assert all(event.actor_id == str(account.id) for event in events)
    _no_personal_data(events, account.email, found.group(1))


async def test_an_admins_create_and_update_are_recorded_as_theirs(
    client: httpx.AsyncClient,
    sign_in: SignInFactory,
    signed_in: SignedIn,
    owner_sessions: Sessions,
) -> None:
    admin = await sign_in(role=PlatformRole.ADMIN)
    address = f"made-{uuid4().hex[:12]}@example.com"

    created = await client.post(
        "/api/v1/users", json={"email": address, "first_name": "Grace"}, headers=admin.headers
    )
    taken = await client.post(
        "/api/v1/users", json={"email": signed_in.account.email}, headers=admin.headers
    )
    updated = await client.patch(
        f"/api/v1/users/{signed_in.account.id}",
        json={"role": "moderator", "last_name": "Hopper"},
        headers=admin.headers,
    )

    assert created.status_code == 201, created.text
    assert taken.status_code == 409, taken.text
    assert updated.status_code == 200, updated.text
    made = await outbox_events(owner_sessions, created.json()["id"])
    assert _types(made) == ["TenantMemberJoined", "UserRegistered"]
    assert made[0].payload["via"] == "admin"
    assert made[1].payload["by_admin"] is True
    assert all(event.actor_id == str(admin.account.id) for event in made)
    [changed] = await outbox_events(owner_sessions, signed_in.account.id)
    assert (changed.type, changed.tenant_id) == ("UserUpdated", admin.account.tenant_id)
    assert changed.payload["changed"] == ["last_name", "role"]
    _no_personal_data([*made, changed], address, "Grace", "Hopper")
