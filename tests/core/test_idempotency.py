"""Idempotency-Key on creates: a retry gets the first answer, never a second resource."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.core.idempotency import MAX_KEY_LENGTH, request_fingerprint
from mosaic.identity.schemas import KNOWN_SCOPES
from mosaic.models import ApiKey, IdempotencyRecord
from tests.conftest import TenantFactory, TenantWithKey
from tests.core.test_errors import assert_envelope

CREATE = "/api/v1/api-keys"
Sessions = async_sessionmaker[AsyncSession]


async def _create(
    client: httpx.AsyncClient, tenant: TenantWithKey, key: str | None, body: dict[str, Any]
) -> httpx.Response:
    headers = dict(tenant.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(CREATE, json=body, headers=headers)


async def _keys_named(sessions: Sessions, tenant: TenantWithKey, name: str) -> int:
    async with sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(ApiKey)
            .where(ApiKey.tenant_id == tenant.id, ApiKey.name == name)
        )
    return int(count or 0)


async def test_a_retry_with_the_same_key_and_body_replays_the_first_answer(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    first = await _create(client, tenant, "retry-1", {"name": "replayed"})

    second = await _create(client, tenant, "retry-1", {"name": "replayed"})

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "idempotent-replayed" not in first.headers


async def test_a_replay_creates_no_second_resource(
    client: httpx.AsyncClient, tenant: TenantWithKey, owner_sessions: Sessions
) -> None:
    for _ in range(3):
        await _create(client, tenant, "retry-2", {"name": "only once"})

    assert await _keys_named(owner_sessions, tenant, "only once") == 1


async def test_creates_without_a_key_are_not_deduplicated(
    client: httpx.AsyncClient, tenant: TenantWithKey, owner_sessions: Sessions
) -> None:
    first = await _create(client, tenant, None, {"name": "twice"})
    second = await _create(client, tenant, None, {"name": "twice"})

    assert first.json()["id"] != second.json()["id"]
    assert await _keys_named(owner_sessions, tenant, "twice") == 2


async def test_the_same_key_with_another_body_is_422_key_reused(
    client: httpx.AsyncClient, tenant: TenantWithKey, owner_sessions: Sessions
) -> None:
    await _create(client, tenant, "reused-1", {"name": "first body"})

    response = await _create(client, tenant, "reused-1", {"name": "second body"})

    assert_envelope(response, 422, "IDEMPOTENCY_KEY_REUSED")
    assert await _keys_named(owner_sessions, tenant, "second body") == 0


async def test_another_tenants_identical_key_is_independent(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_tenant: TenantFactory
) -> None:
    other = await make_tenant()
    mine = await _create(client, tenant, "shared-key", {"name": "same"})

    theirs = await _create(client, other, "shared-key", {"name": "same"})

    assert theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]


async def test_another_credential_of_the_same_tenant_has_its_own_keys(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    peer = await _create(client, tenant, None, {"name": "peer", "scopes": sorted(KNOWN_SCOPES)})
    second = TenantWithKey(tenant=tenant.tenant, key=peer.json()["key"])
    mine = await _create(client, tenant, "per-principal", {"name": "mine"})

    theirs = await _create(client, second, "per-principal", {"name": "mine"})

    assert theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]


async def test_a_create_that_fails_validation_does_not_burn_the_key(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    failed = await _create(client, tenant, "retry-after-422", {"name": "x", "expires_at": past})
    assert_envelope(failed, 422, "VALIDATION_ERROR")

    response = await _create(client, tenant, "retry-after-422", {"name": "fixed"})

    assert response.status_code == 201
    assert "idempotent-replayed" not in response.headers


async def test_a_create_refused_by_the_body_schema_does_not_burn_the_key(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    failed = await _create(client, tenant, "retry-after-schema", {"nom": "typo"})
    assert failed.status_code == 422

    response = await _create(client, tenant, "retry-after-schema", {"name": "fixed"})

    assert response.status_code == 201


async def test_a_forbidden_create_does_not_burn_the_key(
    client: httpx.AsyncClient, make_tenant: TenantFactory, owner_sessions: Sessions
) -> None:
    reader = await make_tenant(frozenset({"api-keys:read"}))

    refused = await _create(client, reader, "retry-after-403", {"name": "nope"})

    assert_envelope(refused, 403, "MISSING_SCOPE")
    async with owner_sessions() as session:
        stored = await session.scalar(
            select(func.count())
            .select_from(IdempotencyRecord)
            .where(IdempotencyRecord.tenant_id == reader.id)
        )
    assert stored == 0


async def test_concurrent_requests_with_one_key_create_exactly_one_resource(
    client: httpx.AsyncClient, tenant: TenantWithKey, owner_sessions: Sessions
) -> None:
    responses = await asyncio.gather(
        *(_create(client, tenant, "racing", {"name": "raced"}) for _ in range(5))
    )

    assert [response.status_code for response in responses] == [201] * 5
    assert len({response.json()["id"] for response in responses}) == 1
    replayed = [response.headers.get("Idempotent-Replayed") for response in responses]
    assert sorted(replayed, key=str) == [None] + ["true"] * 4
    assert await _keys_named(owner_sessions, tenant, "raced") == 1


async def test_concurrent_requests_over_real_connections_create_exactly_one_resource(
    live_server: str, tenant: TenantWithKey, owner_sessions: Sessions
) -> None:
    async def post_on_its_own_connection() -> httpx.Response:
        async with httpx.AsyncClient(base_url=live_server, timeout=10) as client:
            return await _create(client, tenant, "racing-live", {"name": "raced live"})

    responses = await asyncio.gather(*(post_on_its_own_connection() for _ in range(4)))

    assert [response.status_code for response in responses] == [201] * 4
    assert len({response.json()["id"] for response in responses}) == 1
    assert await _keys_named(owner_sessions, tenant, "raced live") == 1


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("k" * (MAX_KEY_LENGTH + 1), id="too long"),
        pytest.param("", id="empty"),
        pytest.param("tab\there", id="control character"),
    ],
)
async def test_an_unusable_key_is_422(
    client: httpx.AsyncClient, tenant: TenantWithKey, owner_sessions: Sessions, key: str
) -> None:
    response = await _create(client, tenant, key, {"name": "bad key"})

    assert_envelope(response, 422, "VALIDATION_ERROR")
    assert await _keys_named(owner_sessions, tenant, "bad key") == 0


async def test_a_key_of_the_maximum_length_is_accepted(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    response = await _create(client, tenant, "k" * MAX_KEY_LENGTH, {"name": "long key"})

    assert response.status_code == 201


async def test_an_expired_record_is_replaced_by_a_new_create(
    client: httpx.AsyncClient, tenant: TenantWithKey, owner_sessions: Sessions
) -> None:
    first = await _create(client, tenant, "expiring", {"name": "before expiry"})
    async with owner_sessions() as session, session.begin():
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.tenant_id == tenant.id, IdempotencyRecord.key == "expiring")
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    response = await _create(client, tenant, "expiring", {"name": "after expiry"})

    assert response.status_code == 201
    assert "idempotent-replayed" not in response.headers
    assert response.json()["id"] != first.json()["id"]
    async with owner_sessions() as session:
        record = await session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.tenant_id == tenant.id, IdempotencyRecord.key == "expiring"
            )
        )
    assert record is not None
    assert record.response_sealed is not None
    assert record.expires_at > datetime.now(UTC)


def test_the_fingerprint_separates_method_path_and_body() -> None:
    # Length-prefixed parts: moving bytes between path and body changes the fingerprint.
    assert request_fingerprint("POST", "/a", b"bc") != request_fingerprint("POST", "/ab", b"c")
    assert request_fingerprint("POST", "/a", b"{}") == request_fingerprint("POST", "/a", b"{}")


async def test_a_record_stored_without_a_response_is_409_not_a_broken_replay(
    client: httpx.AsyncClient, tenant: TenantWithKey, owner_sessions: Sessions
) -> None:
    first = await _create(client, tenant, "never-answered", {"name": "answered"})
    async with owner_sessions() as session, session.begin():
        # What a route that reserved a key but returned without respond() would leave behind.
        await session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.tenant_id == tenant.id,
                IdempotencyRecord.key == "never-answered",
            )
            .values(status_code=0, response_sealed=None)
        )

    response = await _create(client, tenant, "never-answered", {"name": "answered"})

    assert first.status_code == 201
    assert_envelope(response, 409, "IDEMPOTENCY_KEY_IN_PROGRESS")


async def test_a_stored_answer_rests_sealed_with_no_secret_in_clear(
    client: httpx.AsyncClient, tenant: TenantWithKey, owner_sessions: Sessions
) -> None:
    created = await _create(client, tenant, "sealed", {"name": "holds a secret"})
    async with owner_sessions() as session:
        record = await session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.tenant_id == tenant.id, IdempotencyRecord.key == "sealed"
            )
        )

    assert record is not None
    assert record.response_sealed is not None
    assert created.json()["key"].encode() not in record.response_sealed
    assert created.json()["id"].encode() not in record.response_sealed


async def test_a_sealed_answer_moved_to_another_key_does_not_open(
    client: httpx.AsyncClient, tenant: TenantWithKey, owner_sessions: Sessions
) -> None:
    await _create(client, tenant, "source", {"name": "one"})
    await _create(client, tenant, "target", {"name": "two"})
    async with owner_sessions() as session, session.begin():
        source = await session.scalar(
            select(IdempotencyRecord.response_sealed).where(
                IdempotencyRecord.tenant_id == tenant.id, IdempotencyRecord.key == "source"
            )
        )
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.tenant_id == tenant.id, IdempotencyRecord.key == "target")
            .values(response_sealed=source)
        )

    response = await _create(client, tenant, "target", {"name": "two"})

    assert_envelope(response, 409, "IDEMPOTENCY_KEY_IN_PROGRESS")
