"""Login throttling: failures per account and per IP end in 429, audited."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx

from tests.identity.conftest import PASSWORD, AccountFactory, Sessions, audit_events, login

ACCOUNT_LIMIT = 5
IP_LIMIT = 20


async def test_wrong_passwords_in_a_loop_end_in_429_with_retry_after(
    client: httpx.AsyncClient, make_account: AccountFactory
) -> None:
    account = await make_account()
    answers = [
        (await login(client, account.email, f"wrong password {n}")).status_code
        for n in range(ACCOUNT_LIMIT)
    ]

    throttled = await login(client, account.email, "wrong password again")

    assert answers == [401] * ACCOUNT_LIMIT
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "RATE_LIMITED"
    assert 0 < int(throttled.headers["Retry-After"]) <= 15 * 60


async def test_a_throttled_account_refuses_even_the_right_password(
    client: httpx.AsyncClient, make_account: AccountFactory
) -> None:
    account = await make_account()
    for n in range(ACCOUNT_LIMIT):
        await login(client, account.email, f"wrong password {n}")

    response = await login(client, account.email, PASSWORD)

    assert response.status_code == 429


async def test_throttling_is_audited(
    client: httpx.AsyncClient, make_account: AccountFactory, owner_sessions: Sessions
) -> None:
    account = await make_account()
    for n in range(ACCOUNT_LIMIT + 1):
        await login(client, account.email, f"wrong password {n}")

    events = await audit_events(owner_sessions, subject=f"email:{account.email}")

    assert [e.reason for e in events] == ["wrong_password"] * ACCOUNT_LIMIT + ["throttled"]


async def test_a_successful_login_forgives_earlier_failures_of_the_account(
    client: httpx.AsyncClient, make_account: AccountFactory
) -> None:
    account = await make_account()
    for n in range(ACCOUNT_LIMIT - 1):
        await login(client, account.email, f"wrong password {n}")
    assert (await login(client, account.email, PASSWORD)).status_code == 200

    answers = [
        (await login(client, account.email, f"wrong again {n}")).status_code
        for n in range(ACCOUNT_LIMIT)
    ]

    assert answers == [401] * ACCOUNT_LIMIT


async def test_one_ip_guessing_many_accounts_is_throttled(client: httpx.AsyncClient) -> None:
    for n in range(IP_LIMIT):
        response = await login(client, f"guess-{n}-{uuid4().hex[:6]}@example.com", "password123!")
        assert response.status_code == 401

    response = await login(client, f"guess-last-{uuid4().hex[:6]}@example.com", "password123!")

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "RATE_LIMITED"


async def test_another_ip_is_not_throttled_for_an_ip_that_was(
    client: httpx.AsyncClient, app: object, make_account: AccountFactory
) -> None:
    from fastapi import FastAPI

    from tests.conftest import unique_client_address

    assert isinstance(app, FastAPI)
    for n in range(IP_LIMIT):
        await login(client, f"guess-{n}-{uuid4().hex[:6]}@example.com", "password123!")
    account = await make_account()
    transport = httpx.ASGITransport(app=app, client=unique_client_address())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        response = await login(other, account.email, PASSWORD)

    assert response.status_code == 200


async def test_login_throttling_counts_in_redis_when_configured(
    client_with: Any, make_account: AccountFactory, redis_server_url: str
) -> None:
    account = await make_account()
    async with client_with(rate_limits={"redis_url": redis_server_url}) as redis_client:
        for n in range(ACCOUNT_LIMIT):
            await login(redis_client, account.email, f"wrong password {n}")
    # A second process sharing the Redis sees the same counters.
    async with client_with(rate_limits={"redis_url": redis_server_url}) as second_process:
        response = await login(second_process, account.email, PASSWORD)

    assert response.status_code == 429
