"""Refresh tokens: rotation on every use, re-use detection, logout, tenant switching."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from mosaic.models import RefreshToken, ScopeRole, TenantMembership
from tests.conftest import TenantFactory
from tests.identity.conftest import Sessions, SignedIn, audit_events_of

REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"


async def _refresh(client: httpx.AsyncClient, token: str, **extra: Any) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": token, **extra})


def _assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "INVALID_CREDENTIALS"


async def _rows(sessions: Sessions, user_id: Any) -> list[RefreshToken]:
    async with sessions() as session:
        rows = await session.execute(
            select(RefreshToken).where(RefreshToken.user_id == user_id).order_by(RefreshToken.id)
        )
        return list(rows.scalars())


async def test_a_refresh_returns_a_new_pair(client: httpx.AsyncClient, signed_in: SignedIn) -> None:
    response = await _refresh(client, signed_in.refresh_token)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["refresh_token"] != signed_in.refresh_token
    assert body["access_token"] != signed_in.access_token
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200


async def test_a_refresh_token_is_stored_only_as_its_sha256(
    signed_in: SignedIn, owner_sessions: Sessions
) -> None:
    [row] = await _rows(owner_sessions, signed_in.account.id)

    assert row.token_hash == hashlib.sha256(signed_in.refresh_token.encode()).hexdigest()


async def test_reusing_a_spent_refresh_token_is_401_and_revokes_the_family(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    rotated = (await _refresh(client, signed_in.refresh_token)).json()

    replay = await _refresh(client, signed_in.refresh_token)

    _assert_401(replay)
    # The thief (or the user) holding the newest token is signed out too.
    _assert_401(await _refresh(client, rotated["refresh_token"]))


async def test_reuse_is_audited_and_revocation_survives_the_failed_request(
    client: httpx.AsyncClient, signed_in: SignedIn, owner_sessions: Sessions
) -> None:
    await _refresh(client, signed_in.refresh_token)

    await _refresh(client, signed_in.refresh_token)

    rows = await _rows(owner_sessions, signed_in.account.id)
    assert {row.revoked_reason for row in rows} == {"reuse_detected"}
    actions = [
        e.action for e in await audit_events_of(owner_sessions, user_id=signed_in.account.id)
    ]
    assert "refresh_token_reused" in actions


async def test_an_unknown_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    _assert_401(await _refresh(client, "not-a-token-we-issued"))


async def test_an_expired_refresh_token_is_401(
    client: httpx.AsyncClient, signed_in: SignedIn, owner_sessions: Sessions
) -> None:
    async with owner_sessions() as session, session.begin():
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == signed_in.account.id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    _assert_401(await _refresh(client, signed_in.refresh_token))


async def test_logout_revokes_the_family(
    client: httpx.AsyncClient, signed_in: SignedIn, owner_sessions: Sessions
) -> None:
    rotated = (await _refresh(client, signed_in.refresh_token)).json()

    response = await client.post(LOGOUT, json={"refresh_token": rotated["refresh_token"]})

    assert response.status_code == 204
    _assert_401(await _refresh(client, rotated["refresh_token"]))
    actions = [
        e.action for e in await audit_events_of(owner_sessions, user_id=signed_in.account.id)
    ]
    assert "logout" in actions


async def test_logout_with_an_unknown_token_is_204(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGOUT, json={"refresh_token": "never-issued"})

    assert response.status_code == 204


async def test_a_refresh_switches_to_another_tenant_the_user_belongs_to(
    client: httpx.AsyncClient,
    signed_in: SignedIn,
    make_tenant: TenantFactory,
    owner_sessions: Sessions,
) -> None:
    other = await make_tenant()
    async with owner_sessions() as session, session.begin():
        session.add(
            TenantMembership(
                tenant_id=other.id, user_id=signed_in.account.id, role=ScopeRole.EDITOR
            )
        )

    response = await _refresh(client, signed_in.refresh_token, tenant=other.tenant.slug)

    assert response.json()["tenant_id"] == str(other.id)
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert (await client.get("/api/v1/tenant", headers=headers)).json()["id"] == str(other.id)


async def test_a_refresh_cannot_switch_to_a_tenant_the_user_is_not_in(
    client: httpx.AsyncClient, signed_in: SignedIn, make_tenant: TenantFactory
) -> None:
    other = await make_tenant()

    response = await _refresh(client, signed_in.refresh_token, tenant=str(other.id))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "NO_TENANT_ACCESS"


async def test_two_concurrent_refreshes_with_one_token_cannot_both_succeed(
    client: httpx.AsyncClient, signed_in: SignedIn, owner_sessions: Sessions
) -> None:
    import asyncio

    answers = await asyncio.gather(
        _refresh(client, signed_in.refresh_token), _refresh(client, signed_in.refresh_token)
    )

    assert sorted(answer.status_code for answer in answers) == [200, 401]
    # The loser's replay revoked the family, including the winner's new token.
    [winner] = [answer for answer in answers if answer.status_code == 200]
    _assert_401(await _refresh(client, winner.json()["refresh_token"]))
