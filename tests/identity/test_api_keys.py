"""API keys over HTTP: creation, listing, revocation, authentication and tenant isolation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.core.ids import new_id
from mosaic.identity.schemas import KNOWN_SCOPES
from mosaic.models import ApiKey
from tests.conftest import TenantFactory, TenantWithKey

KEYS = "/api/v1/api-keys"
Sessions = async_sessionmaker[AsyncSession]


def as_tenant(tenant: TenantWithKey, key: str) -> TenantWithKey:
    """Act in ``tenant`` with another of its keys."""
    return TenantWithKey(tenant=tenant.tenant, key=key)


async def _create(client: httpx.AsyncClient, tenant: TenantWithKey, **body: Any) -> dict[str, Any]:
    response = await client.post(
        KEYS, json={"name": "made in a test", **body}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


# Creating


async def test_a_create_returns_the_key_once_with_its_location(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    response = await client.post(
        KEYS, json={"name": "ci", "scopes": ["tenant:read"]}, headers=tenant.headers
    )

    assert response.status_code == 201
    created = response.json()
    assert response.headers["Location"] == f"/api/v1/api-keys/{created['id']}"
    assert created["key"].startswith(created["prefix"] + "_")
    assert created["prefix"].startswith("msk_")
    assert created["scopes"] == ["tenant:read"]
    assert "secret_hash" not in created


async def test_a_created_key_authenticates_in_the_same_tenant(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    created = await _create(client, tenant, scopes=["tenant:read"])

    response = await client.get(
        "/api/v1/tenant", headers={"Authorization": f"Bearer {created['key']}"}
    )

    assert response.status_code == 200
    assert response.json()["id"] == str(tenant.id)


async def test_duplicate_scopes_are_stored_once(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    created = await _create(client, tenant, scopes=["tenant:read", "tenant:read"])

    assert created["scopes"] == ["tenant:read"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"name": "x", "scopes": ["admin:everything"]}, "scopes", id="unknown scope"),
        pytest.param({"name": "x", "scopes": ["TENANT:READ"]}, "scopes", id="scope in capitals"),
        pytest.param({"name": "   "}, "name", id="blank name"),
        pytest.param({"name": "n" * 101}, "name", id="name too long"),
        pytest.param(
            {"name": "x", "expires_at": "2099-01-01T00:00:00"}, "expires_at", id="naive expires_at"
        ),
        pytest.param(
            {"name": "x", "expires_at": "next tuesday"}, "expires_at", id="unparseable expires_at"
        ),
    ],
)
async def test_an_invalid_create_is_422_pointing_at_the_field(
    client: httpx.AsyncClient, tenant: TenantWithKey, body: dict[str, Any], field: str
) -> None:
    response = await client.post(KEYS, json=body, headers=tenant.headers)

    error = _error(response, 422)
    assert error["code"] == "VALIDATION_ERROR"
    assert [detail["loc"][:2] for detail in error["details"]] == [["body", field]]


async def test_an_expires_at_in_the_past_is_422(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()

    response = await client.post(
        KEYS, json={"name": "x", "expires_at": past}, headers=tenant.headers
    )

    error = _error(response, 422)
    assert error["message"] == "expires_at must be in the future"


async def test_a_key_cannot_grant_scopes_its_creator_lacks(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    writer = await make_tenant(frozenset({"api-keys:write"}))

    response = await client.post(
        KEYS,
        json={"name": "escalate", "scopes": ["api-keys:write", "tenant:read"]},
        headers=writer.headers,
    )

    error = _error(response, 403)
    assert error["code"] == "MISSING_SCOPE"
    assert error["details"] == {"scopes": ["tenant:read"]}


# Reading: the secret never comes back


async def test_a_listed_key_shows_neither_its_secret_nor_its_hash(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    created = await _create(client, tenant)

    response = await client.get(KEYS, headers=tenant.headers)

    assert response.status_code == 200
    for item in response.json()["data"]:
        assert "key" not in item
        assert "secret_hash" not in item
    assert created["key"] not in response.text
    assert tenant.key not in response.text


async def test_a_read_key_shows_neither_its_secret_nor_its_hash(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    created = await _create(client, tenant)

    response = await client.get(f"{KEYS}/{created['id']}", headers=tenant.headers)

    assert response.status_code == 200
    assert set(response.json()) == {
        "id",
        "name",
        "prefix",
        "scopes",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "created_at",
    }
    assert created["key"] not in response.text


async def test_an_unknown_key_id_is_404(client: httpx.AsyncClient, tenant: TenantWithKey) -> None:
    response = await client.get(f"{KEYS}/{new_id()}", headers=tenant.headers)

    assert _error(response, 404)["code"] == "API_KEY_NOT_FOUND"


# Tenant isolation


async def test_another_tenants_key_cannot_be_read(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_tenant: TenantFactory
) -> None:
    theirs = await _create(client, await make_tenant())

    response = await client.get(f"{KEYS}/{theirs['id']}", headers=tenant.headers)

    assert _error(response, 404)["code"] == "API_KEY_NOT_FOUND"


async def test_another_tenants_key_cannot_be_revoked(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_tenant: TenantFactory
) -> None:
    other = await make_tenant()
    theirs = await _create(client, other, scopes=["tenant:read"])

    response = await client.delete(f"{KEYS}/{theirs['id']}", headers=tenant.headers)

    assert _error(response, 404)["code"] == "API_KEY_NOT_FOUND"
    still_works = await client.get("/api/v1/tenant", headers={"X-API-Key": theirs["key"]})
    assert still_works.status_code == 200


async def test_another_tenants_key_is_indistinguishable_from_a_missing_one(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_tenant: TenantFactory
) -> None:
    theirs = await _create(client, await make_tenant())

    existing = await client.get(f"{KEYS}/{theirs['id']}", headers=tenant.headers)
    missing = await client.get(f"{KEYS}/{new_id()}", headers=tenant.headers)

    def without_request_id(response: httpx.Response) -> dict[str, Any]:
        error: dict[str, Any] = response.json()["error"]
        return {name: value for name, value in error.items() if name != "request_id"}

    assert existing.status_code == missing.status_code == 404
    assert without_request_id(existing) == without_request_id(missing)


async def test_another_tenants_keys_are_not_listed(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_tenant: TenantFactory
) -> None:
    theirs = await _create(client, await make_tenant())

    response = await client.get(KEYS, params={"limit": 100}, headers=tenant.headers)

    assert theirs["id"] not in {item["id"] for item in response.json()["data"]}


# Revoking


async def test_revoking_a_key_is_204_with_no_body(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    created = await _create(client, tenant)

    response = await client.delete(f"{KEYS}/{created['id']}", headers=tenant.headers)

    assert response.status_code == 204
    assert response.content == b""


async def test_revoking_twice_is_204_and_keeps_the_first_revocation_time(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    created = await _create(client, tenant)
    path = f"{KEYS}/{created['id']}"
    await client.delete(path, headers=tenant.headers)
    first = (await client.get(path, headers=tenant.headers)).json()["revoked_at"]

    again = await client.delete(path, headers=tenant.headers)

    assert again.status_code == 204
    assert first is not None
    assert (await client.get(path, headers=tenant.headers)).json()["revoked_at"] == first


async def test_a_revoked_key_is_401(client: httpx.AsyncClient, tenant: TenantWithKey) -> None:
    created = await _create(client, tenant, scopes=["tenant:read"])
    await client.delete(f"{KEYS}/{created['id']}", headers=tenant.headers)

    response = await client.get("/api/v1/tenant", headers={"X-API-Key": created["key"]})

    assert _error(response, 401)["code"] == "INVALID_CREDENTIALS"


async def test_a_key_can_revoke_itself_and_is_then_refused(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    created = await _create(client, tenant, scopes=["api-keys:read", "api-keys:write"])
    itself = as_tenant(tenant, created["key"])

    revoked = await client.delete(f"{KEYS}/{created['id']}", headers=itself.headers)
    after = await client.get(KEYS, headers=itself.headers)

    assert revoked.status_code == 204
    assert _error(after, 401)["code"] == "INVALID_CREDENTIALS"


# Authentication


async def test_an_expired_key_is_401(
    client: httpx.AsyncClient, tenant: TenantWithKey, owner_sessions: Sessions
) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    created = await _create(client, tenant, scopes=["tenant:read"], expires_at=soon)
    async with owner_sessions() as session, session.begin():
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == UUID(created["id"]))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    response = await client.get("/api/v1/tenant", headers={"X-API-Key": created["key"]})

    assert _error(response, 401)["code"] == "INVALID_CREDENTIALS"


async def test_a_key_before_its_expiry_works(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    created = await _create(client, tenant, scopes=["tenant:read"], expires_at=soon)

    response = await client.get("/api/v1/tenant", headers={"X-API-Key": created["key"]})

    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no credential"),
        pytest.param({"X-API-Key": "garbage"}, id="garbage"),
        pytest.param({"X-API-Key": ""}, id="empty X-API-Key"),
        pytest.param({"X-API-Key": "msk_"}, id="bare prefix"),
        pytest.param({"X-API-Key": "msk_zzzzzzzzzzzzzzzzzz_secret"}, id="non-hex public id"),
        pytest.param({"X-API-Key": "msk_" + "0" * 18 + "_secret"}, id="unknown public id"),
        pytest.param({"X-API-Key": "msk_" + "a" * 10_000}, id="very long"),
        pytest.param({"Authorization": "Bearer "}, id="empty bearer"),
        pytest.param({"Authorization": "Bearer"}, id="bearer without token"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic auth"),
        pytest.param(
            {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJyb290In0."},
            id="alg none token",
        ),
        pytest.param({"Authorization": 'Bearer {"alg":"HS256","typ":"JWT"}'}, id="alg json junk"),
    ],
)
async def test_a_missing_or_malformed_credential_is_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/tenant", headers=headers)

    assert _error(response, 401)["code"] == "INVALID_CREDENTIALS"
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_the_right_prefix_with_a_wrong_secret_is_401(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    prefix = tenant.key.rsplit("_", 1)[0]
    forged = f"{prefix}_{'A' * 43}"

    response = await client.get("/api/v1/tenant", headers={"X-API-Key": forged})

    assert _error(response, 401)["code"] == "INVALID_CREDENTIALS"


async def test_a_bearer_key_and_an_x_api_key_both_authenticate(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    bearer = await client.get("/api/v1/tenant", headers={"Authorization": f"Bearer {tenant.key}"})
    header = await client.get("/api/v1/tenant", headers={"X-API-Key": tenant.key})

    assert bearer.status_code == header.status_code == 200


async def test_every_failure_to_authenticate_reads_the_same(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    # Revoked, unknown and garbage keys must not tell an attacker which one they hold.
    created = await _create(client, tenant, scopes=["tenant:read"])
    await client.delete(f"{KEYS}/{created['id']}", headers=tenant.headers)
    unknown = "msk_" + "0" * 18 + "_" + "A" * 43

    bodies = []
    for key in (created["key"], unknown, "garbage"):
        response = await client.get("/api/v1/tenant", headers={"X-API-Key": key})
        error = _error(response, 401)
        bodies.append((error["code"], error["message"]))

    assert len(set(bodies)) == 1


# Scopes


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/api/v1/tenant", "tenant:read"),
        ("GET", KEYS, "api-keys:read"),
        ("GET", f"{KEYS}/{new_id()}", "api-keys:read"),
        ("POST", KEYS, "api-keys:write"),
        ("DELETE", f"{KEYS}/{new_id()}", "api-keys:write"),
    ],
)
async def test_a_route_without_its_scope_is_403_missing_scope(
    client: httpx.AsyncClient, make_tenant: TenantFactory, method: str, path: str, scope: str
) -> None:
    lacking = await make_tenant(KNOWN_SCOPES - {scope})

    response = await client.request(
        method, path, json={"name": "x"} if method == "POST" else None, headers=lacking.headers
    )

    error = _error(response, 403)
    assert error["code"] == "MISSING_SCOPE"
    assert error["details"] == {"required_scope": scope}


# Usage


async def test_last_used_at_is_set_once_a_key_is_used(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    created = await _create(client, tenant, scopes=["tenant:read"])
    assert created["last_used_at"] is None

    await client.get("/api/v1/tenant", headers={"X-API-Key": created["key"]})

    response = await client.get(f"{KEYS}/{created['id']}", headers=tenant.headers)
    last_used_at = datetime.fromisoformat(response.json()["last_used_at"])
    assert datetime.now(UTC) - last_used_at < timedelta(minutes=1)


async def test_a_request_is_not_held_up_by_a_transaction_locking_its_key(
    client: httpx.AsyncClient, tenant: TenantWithKey, owner_sessions: Sessions
) -> None:
    created = await _create(client, tenant, scopes=["tenant:read"])
    async with owner_sessions() as session, session.begin():
        # Another transaction (a concurrent request, a revocation) holds the key's row.
        await session.execute(
            select(ApiKey).where(ApiKey.id == UUID(created["id"])).with_for_update()
        )

        response = await asyncio.wait_for(
            client.get("/api/v1/tenant", headers={"X-API-Key": created["key"]}), timeout=5
        )

    assert response.status_code == 200


# Documentation


async def test_the_create_route_documents_its_errors(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    responses = document["paths"]["/api/v1/api-keys"]["post"]["responses"]

    assert {"201", "401", "403", "409", "422"} <= set(responses)
    assert responses["422"]["description"] == "VALIDATION_ERROR, IDEMPOTENCY_KEY_REUSED"
    assert "IDEMPOTENCY_KEY_IN_PROGRESS" in responses["409"]["description"]
    assert responses["403"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorEnvelope"
    }
