"""Platform administration of users: who may, listing, creating, role changes, disabling."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest

from mosaic.core.ids import new_id
from mosaic.models import PlatformRole
from tests.conftest import TenantFactory
from tests.identity.conftest import (
    PASSWORD,
    Sessions,
    SignedIn,
    SignInFactory,
    audit_events,
    login,
)

USERS = "/api/v1/users"


@pytest.fixture
async def admin(sign_in: SignInFactory) -> SignedIn:
    return await sign_in(role=PlatformRole.ADMIN)


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


async def test_a_regular_user_cannot_list_users(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    response = await client.get(USERS, headers=signed_in.headers)

    assert _error(response, 403)["code"] == "PLATFORM_ADMIN_REQUIRED"


async def test_an_api_key_cannot_administer_users(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant()

    response = await client.get(USERS, headers=tenant.headers)

    assert _error(response, 403)["code"] == "PLATFORM_ADMIN_REQUIRED"


async def test_an_admin_pages_through_users(
    client: httpx.AsyncClient, admin: SignedIn, sign_in: SignInFactory
) -> None:
    await sign_in()
    await sign_in()

    first = await client.get(USERS, params={"limit": 2}, headers=admin.headers)
    second = await client.get(
        USERS,
        params={"limit": 2, "cursor": first.json()["pagination"]["next_cursor"]},
        headers=admin.headers,
    )

    assert first.status_code == 200, first.text
    assert len(first.json()["data"]) == 2
    assert first.json()["pagination"]["has_more"] is True
    first_ids = {user["id"] for user in first.json()["data"]}
    assert first_ids.isdisjoint(user["id"] for user in second.json()["data"])


async def test_an_admin_finds_a_user_by_email(
    client: httpx.AsyncClient, admin: SignedIn, signed_in: SignedIn
) -> None:
    response = await client.get(
        USERS, params={"search": signed_in.account.email}, headers=admin.headers
    )

    assert [user["id"] for user in response.json()["data"]] == [str(signed_in.account.id)]


async def test_an_admin_creates_a_user_who_can_log_in(
    client: httpx.AsyncClient, admin: SignedIn
) -> None:
    email = f"made-{uuid4().hex[:10]}@example.com"

    response = await client.post(
        USERS,
        json={"email": email, "password": PASSWORD, "first_name": "Grace", "role": "moderator"},
        headers=admin.headers,
    )

    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"{USERS}/{response.json()['id']}"
    assert response.json()["role"] == "moderator"
    assert (await login(client, email, PASSWORD)).status_code == 200


async def test_creating_a_user_with_a_taken_email_is_409(
    client: httpx.AsyncClient, admin: SignedIn, signed_in: SignedIn
) -> None:
    response = await client.post(
        USERS, json={"email": signed_in.account.email}, headers=admin.headers
    )

    assert _error(response, 409)["code"] == "EMAIL_TAKEN"


async def test_reading_an_unknown_user_is_404(client: httpx.AsyncClient, admin: SignedIn) -> None:
    response = await client.get(f"{USERS}/{new_id()}", headers=admin.headers)

    assert _error(response, 404)["code"] == "USER_NOT_FOUND"


async def test_a_role_change_is_audited_and_takes_effect(
    client: httpx.AsyncClient, admin: SignedIn, signed_in: SignedIn, owner_sessions: Sessions
) -> None:
    response = await client.patch(
        f"{USERS}/{signed_in.account.id}", json={"role": "admin"}, headers=admin.headers
    )

    assert response.json()["role"] == "admin"
    event = (await audit_events(owner_sessions, subject=f"user:{signed_in.account.id}"))[-1]
    assert (event.action, event.actor_user_id, event.details) == (
        "role_changed",
        admin.account.id,
        {"from": "user", "to": "admin"},
    )
    # The promoted user's existing token now carries admin rights.
    assert (await client.get(USERS, headers=signed_in.headers)).status_code == 200


async def test_disabling_an_account_stops_its_tokens_and_is_audited(
    client: httpx.AsyncClient, admin: SignedIn, signed_in: SignedIn, owner_sessions: Sessions
) -> None:
    response = await client.patch(
        f"{USERS}/{signed_in.account.id}", json={"status": "disabled"}, headers=admin.headers
    )

    assert response.json()["is_active"] is False
    me = await client.get("/api/v1/me", headers=signed_in.headers)
    assert _error(me, 401)["code"] == "INVALID_CREDENTIALS"
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": signed_in.refresh_token}
    )
    assert refresh.status_code == 401
    events = await audit_events(owner_sessions, subject=f"user:{signed_in.account.id}")
    assert events[-1].action == "account_disabled"
    assert events[-1].details == {"refresh_tokens_revoked": 1, "browser_sessions_revoked": 0}


async def test_a_disabled_account_cannot_log_in(
    client: httpx.AsyncClient, admin: SignedIn, signed_in: SignedIn
) -> None:
    await client.patch(
        f"{USERS}/{signed_in.account.id}", json={"status": "disabled"}, headers=admin.headers
    )

    response = await login(client, signed_in.account.email, PASSWORD)

    assert _error(response, 401)["code"] == "INVALID_CREDENTIALS"


async def test_an_admin_cannot_disable_themselves(
    client: httpx.AsyncClient, admin: SignedIn
) -> None:
    response = await client.patch(
        f"{USERS}/{admin.account.id}", json={"status": "disabled"}, headers=admin.headers
    )

    assert _error(response, 409)["code"] == "CANNOT_CHANGE_OWN_ACCOUNT"


async def test_an_admin_updates_a_users_profile(
    client: httpx.AsyncClient, admin: SignedIn, signed_in: SignedIn
) -> None:
    response = await client.patch(
        f"{USERS}/{signed_in.account.id}", json={"last_name": "Hopper"}, headers=admin.headers
    )

    assert response.status_code == 200
    assert response.json()["last_name"] == "Hopper"


async def test_deleting_a_user_disables_the_account(
    client: httpx.AsyncClient, admin: SignedIn, signed_in: SignedIn
) -> None:
    response = await client.delete(f"{USERS}/{signed_in.account.id}", headers=admin.headers)

    assert response.status_code == 204
    read = await client.get(f"{USERS}/{signed_in.account.id}", headers=admin.headers)
    assert read.json()["status"] == "disabled"


async def test_a_disabled_users_api_key_stops_working(
    client: httpx.AsyncClient, admin: SignedIn, sign_in: SignInFactory
) -> None:
    from mosaic.models import ScopeRole

    owner = await sign_in(scope_role=ScopeRole.OWNER)
    created = await client.post(
        "/api/v1/api-keys", json={"name": "k", "scopes": ["tenant:read"]}, headers=owner.headers
    )
    key_headers = {"X-API-Key": created.json()["key"]}
    assert (await client.get("/api/v1/tenant", headers=key_headers)).status_code == 200

    await client.delete(f"{USERS}/{owner.account.id}", headers=admin.headers)

    response = await client.get("/api/v1/tenant", headers=key_headers)
    assert _error(response, 401)["code"] == "INVALID_CREDENTIALS"
