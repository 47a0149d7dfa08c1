"""Local accounts over HTTP: register, login (JSON and OAuth2 form), me, validate, tenants."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from mosaic.models import AuditEvent, ScopeRole, User, UserStatus
from tests.conftest import TenantFactory
from tests.identity.conftest import (
    PASSWORD,
    AccountFactory,
    Sessions,
    SignedIn,
    SignInFactory,
    audit_events,
    default_tenant_id,
    login,
)

REGISTER = "/api/v1/auth/register"
KG_LAB_USER_FIELDS = {
    "id",
    "email",
    "first_name",
    "last_name",
    "role",
    "is_active",
    "created_at",
    "updated_at",
    "last_login",
}


def new_email() -> str:
    return f"new-{uuid4().hex[:12]}@Example.com"


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


async def _register(client: httpx.AsyncClient, email: str, **extra: Any) -> httpx.Response:
    body = {"email": email, "password": PASSWORD, "first_name": "Ada", "last_name": "L", **extra}
    return await client.post(REGISTER, json=body)


# Register, then login (the Knowledge Graph Lab flow)


async def test_a_registered_user_logs_in_with_the_kg_lab_response_shape(
    client: httpx.AsyncClient,
) -> None:
    email = new_email()
    assert (await _register(client, email)).status_code == 202

    response = await login(client, email, PASSWORD)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert set(body["user"]) >= KG_LAB_USER_FIELDS
    assert body["user"]["email"] == email.lower()
    assert body["user"]["is_active"] is True
    assert body["user"]["last_login"] is not None


async def test_open_registration_joins_the_default_tenant_as_contributor(
    client: httpx.AsyncClient, owner_sessions: Sessions
) -> None:
    email = new_email()
    await _register(client, email)

    body = (await login(client, email, PASSWORD)).json()

    assert body["tenant_id"] == str(await default_tenant_id(owner_sessions))
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["tid"] == body["tenant_id"]
    assert claims["role"] == "user"


async def test_registering_a_taken_email_answers_the_same_and_changes_nothing(
    client: httpx.AsyncClient, make_account: AccountFactory
) -> None:
    account = await make_account()
    fresh = await _register(client, new_email())

    taken = await _register(client, account.email.upper(), password="another long passphrase")

    assert taken.status_code == fresh.status_code == 202
    assert taken.json() == fresh.json()
    assert (await login(client, account.email, PASSWORD)).status_code == 200
    assert (await login(client, account.email, "another long passphrase")).status_code == 401


async def test_registering_a_taken_email_is_audited_as_ignored(
    client: httpx.AsyncClient, make_account: AccountFactory, owner_sessions: Sessions
) -> None:
    account = await make_account()

    await _register(client, account.email)

    events = await audit_events(owner_sessions, subject=f"email:{account.email}")
    assert [(e.action, e.outcome, e.reason) for e in events] == [
        ("register", "ignored", "email_taken")
    ]


@pytest.mark.parametrize(
    ("password", "message"),
    [
        pytest.param("short", "must be at least 12 characters", id="too short"),
        pytest.param("x" * 300, "must be at most 256 characters", id="too long"),
        pytest.param("aaaaaaaaaaaaaaaa", "must not repeat so few characters", id="repetitive"),
    ],
)
async def test_a_weak_password_is_422_pointing_at_the_password(
    client: httpx.AsyncClient, password: str, message: str
) -> None:
    response = await _register(client, new_email(), password=password)

    error = _error(response, 422)
    assert error["details"][0]["loc"] == ["body", "password"]
    assert error["details"][0]["message"] == message


async def test_the_email_itself_is_refused_as_a_password(client: httpx.AsyncClient) -> None:
    email = f"long-address-{uuid4().hex[:8]}@example.com"

    response = await _register(client, email, password=email.upper())

    assert _error(response, 422)["details"][0]["message"] == "must not be your email address"


async def test_an_invalid_email_is_422(client: httpx.AsyncClient) -> None:
    response = await _register(client, "not an email")

    assert _error(response, 422)["details"][0]["loc"] == ["body", "email"]


async def test_invite_only_registration_cannot_log_in_until_invited(client_with: Any) -> None:
    email = new_email()
    async with client_with(identity={"registration_mode": "invite_only"}) as client:
        assert (await _register(client, email)).status_code == 202

        response = await login(client, email, PASSWORD)

    assert _error(response, 403)["code"] == "NO_TENANT_ACCESS"


async def test_own_tenant_registration_makes_the_user_owner_of_a_new_tenant(
    client_with: Any, owner_sessions: Sessions
) -> None:
    email = new_email()
    async with client_with(identity={"registration_mode": "own_tenant"}) as client:
        await _register(client, email)
        body = (await login(client, email, PASSWORD)).json()
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        tenant = await client.get("/api/v1/tenant", headers=headers)
        # Owners manage their tenant's API keys.
        key = await client.post("/api/v1/api-keys", json={"name": "mine"}, headers=headers)

    assert body["tenant_id"] != str(await default_tenant_id(owner_sessions))
    assert tenant.json()["id"] == body["tenant_id"]
    assert key.status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", REGISTER, {"email": "a@example.com", "password": PASSWORD}),
        ("POST", "/api/v1/auth/login", {"email": "a@example.com", "password": PASSWORD}),
        ("POST", "/api/v1/auth/refresh", {"refresh_token": "whatever"}),
        ("POST", "/api/v1/auth/logout", {"refresh_token": "whatever"}),
    ],
)
async def test_with_local_accounts_off_their_endpoints_are_404(
    client_with: Any, method: str, path: str, body: dict[str, str]
) -> None:
    async with client_with(identity={"local_accounts_enabled": False}) as client:
        response = await client.request(method, path, json=body)

    assert _error(response, 404)["code"] == "LOCAL_ACCOUNTS_DISABLED"


# One generic answer for every wrong credential


async def test_wrong_password_unknown_email_and_disabled_account_answer_alike(
    client: httpx.AsyncClient, make_account: AccountFactory
) -> None:
    account = await make_account()
    disabled = await make_account(status=UserStatus.DISABLED)

    answers = [
        await login(client, account.email, "wrong password here"),
        await login(client, new_email(), PASSWORD),
        await login(client, disabled.email, PASSWORD),
    ]

    errors = [_error(response, 401) for response in answers]
    assert {(e["code"], e["message"]) for e in errors} == {
        ("INVALID_CREDENTIALS", "The email or password is incorrect")
    }


async def test_a_failed_login_is_audited_with_its_reason_and_without_the_password(
    client: httpx.AsyncClient, make_account: AccountFactory, owner_sessions: Sessions
) -> None:
    account = await make_account()

    await client.post(
        "/api/v1/auth/login",
        json={"email": account.email, "password": "hunter2-not-it"},
        headers={"User-Agent": "pytest-agent"},
    )

    [event] = await audit_events(owner_sessions, subject=f"email:{account.email}")
    assert (event.action, event.outcome, event.reason) == (
        "login_failed",
        "failure",
        "wrong_password",
    )
    assert event.actor_user_id == account.id
    assert event.user_agent == "pytest-agent"
    assert event.ip_address is not None
    assert "hunter2" not in str(event.details)


async def test_a_login_is_audited_in_the_tenant(
    client: httpx.AsyncClient, signed_in: SignedIn, owner_sessions: Sessions
) -> None:
    events = await audit_events(owner_sessions, subject=f"user:{signed_in.account.id}")

    assert [(e.action, e.tenant_id) for e in events] == [("login", signed_in.account.tenant_id)]


async def test_a_login_rehashes_a_password_hashed_with_other_parameters(
    client: httpx.AsyncClient,
    app: FastAPI,
    make_account: AccountFactory,
    owner_sessions: Sessions,
) -> None:
    from argon2 import PasswordHasher

    old_hash = PasswordHasher(time_cost=2, memory_cost=8192, parallelism=1).hash(PASSWORD)
    account = await make_account(password_hash=old_hash)

    assert (await login(client, account.email, PASSWORD)).status_code == 200

    async with owner_sessions() as session:
        stored = (
            await session.execute(select(User.password_hash).where(User.id == account.id))
        ).scalar_one()
    assert stored != old_hash
    assert stored is not None
    assert "t=1" in stored


# The OAuth2 password flow behind the /docs Authorize button


async def test_the_oauth2_token_endpoint_signs_in_with_a_form(
    client: httpx.AsyncClient, make_account: AccountFactory
) -> None:
    account = await make_account()

    response = await client.post(
        "/api/v1/auth/token", data={"username": account.email, "password": PASSWORD}
    )

    assert response.status_code == 200, response.text
    me = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"}
    )
    assert me.json()["id"] == str(account.id)


async def test_openapi_declares_the_password_flow_with_its_token_url(
    client: httpx.AsyncClient,
) -> None:
    schemes = (await client.get("/openapi.json")).json()["components"]["securitySchemes"]

    flows = [scheme["flows"] for scheme in schemes.values() if scheme["type"] == "oauth2"]
    assert flows == [{"password": {"scopes": {}, "tokenUrl": "/api/v1/auth/token"}}]


# The current user


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/auth/me"])
async def test_me_is_the_signed_in_user(
    client: httpx.AsyncClient, signed_in: SignedIn, path: str
) -> None:
    response = await client.get(path, headers=signed_in.headers)

    assert response.status_code == 200
    assert response.json()["id"] == str(signed_in.account.id)
    assert set(response.json()) >= KG_LAB_USER_FIELDS


async def test_validate_answers_the_user_inside_data(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    response = await client.get("/api/v1/auth/validate", headers=signed_in.headers)

    assert response.status_code == 200
    assert response.json()["data"]["email"] == signed_in.account.email


async def test_validate_without_a_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/auth/validate")

    assert _error(response, 401)["code"] == "INVALID_CREDENTIALS"


async def test_a_user_updates_their_profile(client: httpx.AsyncClient, signed_in: SignedIn) -> None:
    response = await client.patch(
        "/api/v1/me",
        json={"display_name": "Ada Lovelace", "avatar_url": "https://example.com/a.png"},
        headers=signed_in.headers,
    )

    assert response.status_code == 200, response.text
    assert response.json()["display_name"] == "Ada Lovelace"
    assert response.json()["avatar_url"] == "https://example.com/a.png"


async def test_a_profile_update_cannot_change_the_role(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    response = await client.patch("/api/v1/me", json={"role": "admin"}, headers=signed_in.headers)

    assert _error(response, 422)["details"][0]["loc"] == ["body", "role"]


async def test_a_tenant_api_key_without_a_user_is_not_a_user(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant()

    response = await client.get("/api/v1/me", headers=tenant.headers)

    assert _error(response, 403)["code"] == "NOT_A_USER"


# Tenants


async def test_a_member_of_two_tenants_logs_in_to_the_one_asked_for(
    client: httpx.AsyncClient,
    make_account: AccountFactory,
    make_tenant: TenantFactory,
    owner_sessions: Sessions,
) -> None:
    other = await make_tenant()
    account = await make_account()
    await _add_membership(owner_sessions, account.id, other.id)

    response = await login(client, account.email, PASSWORD, tenant=other.tenant.slug)

    assert response.json()["tenant_id"] == str(other.id)


async def test_logging_in_to_a_tenant_you_do_not_belong_to_is_403(
    client: httpx.AsyncClient, make_account: AccountFactory, make_tenant: TenantFactory
) -> None:
    account = await make_account()
    other = await make_tenant()

    response = await login(client, account.email, PASSWORD, tenant=str(other.id))

    assert _error(response, 403)["code"] == "NO_TENANT_ACCESS"


async def test_a_user_token_creates_api_keys_that_record_their_creator(
    client: httpx.AsyncClient, sign_in: SignInFactory, owner_sessions: Sessions
) -> None:
    owner = await sign_in(scope_role=ScopeRole.OWNER)

    response = await client.post(
        "/api/v1/api-keys",
        json={"name": "mine", "scopes": ["tenant:read"]},
        headers=owner.headers,
    )

    assert response.status_code == 201, response.text
    me = await client.get("/api/v1/me", headers={"X-API-Key": response.json()["key"]})
    assert me.json()["id"] == str(owner.account.id)
    events = await audit_events(owner_sessions, subject=f"api_key:{response.json()['id']}")
    assert [(e.action, e.actor_user_id) for e in events] == [("api_key_created", owner.account.id)]


async def test_a_contributor_cannot_create_api_keys(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    response = await client.post(
        "/api/v1/api-keys", json={"name": "mine"}, headers=signed_in.headers
    )

    # The policy lets owners and editors manage the tenant's keys.
    assert _error(response, 403)["code"] == "ACCESS_DENIED"


async def _add_membership(sessions: Sessions, user_id: UUID, tenant_id: UUID) -> None:
    from mosaic.models import TenantMembership

    async with sessions() as session, session.begin():
        session.add(TenantMembership(tenant_id=tenant_id, user_id=user_id, role=ScopeRole.VIEWER))


async def test_no_audit_row_holds_a_password(
    client: httpx.AsyncClient, make_account: AccountFactory, owner_sessions: Sessions
) -> None:
    account = await make_account()
    await login(client, account.email, "a-wrong-secret-passphrase")
    await login(client, account.email, PASSWORD)

    async with owner_sessions() as session:
        rows = (await session.execute(select(AuditEvent))).scalars().all()
    dumped = " ".join(f"{row.reason} {row.details} {row.subject}" for row in rows)
    assert "a-wrong-secret-passphrase" not in dumped
    assert PASSWORD not in dumped


async def test_revoking_an_api_key_is_audited(
    client: httpx.AsyncClient, sign_in: SignInFactory, owner_sessions: Sessions
) -> None:
    owner = await sign_in(scope_role=ScopeRole.OWNER)
    created = await client.post("/api/v1/api-keys", json={"name": "x"}, headers=owner.headers)

    response = await client.delete(
        f"/api/v1/api-keys/{created.json()['id']}", headers=owner.headers
    )

    assert response.status_code == 204
    events = await audit_events(owner_sessions, subject=f"api_key:{created.json()['id']}")
    assert [e.action for e in events] == ["api_key_created", "api_key_revoked"]
