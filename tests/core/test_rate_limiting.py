"""Rate limiting on both storages (process memory and Redis), and the middleware's 429."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI

from mosaic.core.errors import RateLimited, install_error_handlers
from mosaic.core.rate_limiting import (
    RateLimiter,
    RateLimitMiddleware,
    RequestLimits,
    parse_limit,
    storage_uri,
)
from mosaic.core.settings import RateLimitSettings


@pytest.fixture(scope="module", params=["memory", "redis"])
def redis_url(request: pytest.FixtureRequest) -> str | None:
    """``None`` for process memory, or the machine's Redis (required under CI=true)."""
    if request.param == "memory":
        return None
    url: str = request.getfixturevalue("redis_server_url")
    return url


@pytest.fixture
def limiter(redis_url: str | None) -> RateLimiter:
    return RateLimiter.from_url(redis_url)


def _id() -> str:
    return uuid4().hex


def test_the_backend_follows_the_configuration(limiter: RateLimiter, redis_url: str | None) -> None:
    assert limiter.backend == ("MemoryStorage" if redis_url is None else "RedisStorage")


async def test_the_storage_is_reachable(limiter: RateLimiter) -> None:
    assert await limiter.healthy()


async def test_hits_within_the_limit_pass_and_the_next_is_rate_limited(
    limiter: RateLimiter,
) -> None:
    limit, subject = parse_limit("3/minute"), _id()
    for _ in range(3):
        await limiter.hit(limit, subject)

    with pytest.raises(RateLimited) as raised:
        await limiter.hit(limit, subject)

    assert 0 < int(raised.value.headers["Retry-After"]) <= 60


async def test_counters_are_per_identifier(limiter: RateLimiter) -> None:
    limit, one, other = parse_limit("1/minute"), _id(), _id()
    await limiter.hit(limit, one)

    await limiter.hit(limit, other)

    assert await limiter.is_exhausted(limit, one)


async def test_checking_does_not_count(limiter: RateLimiter) -> None:
    limit, subject = parse_limit("1/minute"), _id()

    for _ in range(3):
        assert not await limiter.is_exhausted(limit, subject)

    await limiter.hit(limit, subject)


async def test_clearing_resets_the_counter(limiter: RateLimiter) -> None:
    limit, subject = parse_limit("1/minute"), _id()
    await limiter.hit(limit, subject)

    await limiter.clear(limit, subject)

    assert not await limiter.is_exhausted(limit, subject)


def test_a_redis_url_becomes_an_async_storage_uri() -> None:
    assert storage_uri("redis://h:6379/0") == "async+redis://h:6379/0"
    assert storage_uri(None) == "async+memory://"


def test_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="redis://"):
        storage_uri("memcached://h")


# The middleware


@pytest.fixture
async def limited_client(redis_url: str | None) -> AsyncIterator[httpx.AsyncClient]:
    """An app with tiny limits: 2 auth calls per IP, 3 writes per IP, 2 per credential."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/api/v1/things")
    async def write() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/api/v1/things")
    async def read() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/api/v1/auth/me")
    async def auth() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/auth/idp/login")
    async def browser_login() -> dict[str, bool]:
        return {"ok": True}

    settings = RateLimitSettings(
        rate_limit_auth_per_ip="2/minute",
        rate_limit_writes_per_ip="3/minute",
        rate_limit_writes_per_subject="2/minute",
    )
    app.add_middleware(
        RateLimitMiddleware,
        limiter=RateLimiter.from_url(redis_url),
        limits=RequestLimits.from_settings(settings),
        api_prefix="/api/v1",
        auth_prefixes=("/api/v1/auth/", "/auth/"),
        session_cookie="mosaic_session",
    )
    address = (f"10.{uuid4().int % 250}.{uuid4().int % 250}.{uuid4().int % 250}", 1)
    transport = httpx.ASGITransport(app=app, client=address)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_writes_over_the_per_credential_limit_are_429_in_the_envelope(
    limited_client: httpx.AsyncClient,
) -> None:
    headers = {"Authorization": f"Bearer {_id()}"}
    for _ in range(2):
        assert (await limited_client.post("/api/v1/things", headers=headers)).status_code == 200

    response = await limited_client.post("/api/v1/things", headers=headers)

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "RATE_LIMITED"
    assert int(response.headers["Retry-After"]) >= 1


async def test_another_credential_from_the_same_ip_has_its_own_budget(
    limited_client: httpx.AsyncClient,
) -> None:
    first = {"Authorization": f"Bearer {_id()}"}
    for _ in range(2):
        await limited_client.post("/api/v1/things", headers=first)

    response = await limited_client.post(
        "/api/v1/things", headers={"Authorization": f"Bearer {_id()}"}
    )

    assert response.status_code == 200


async def test_writes_over_the_per_ip_limit_are_429_whatever_the_credential(
    limited_client: httpx.AsyncClient,
) -> None:
    for _ in range(3):
        await limited_client.post("/api/v1/things", headers={"X-API-Key": _id()})

    response = await limited_client.post("/api/v1/things", headers={"X-API-Key": _id()})

    assert response.status_code == 429


async def test_reads_are_not_write_limited(limited_client: httpx.AsyncClient) -> None:
    answers = [(await limited_client.get("/api/v1/things")).status_code for _ in range(5)]

    assert answers == [200] * 5


async def test_authentication_endpoints_are_limited_per_ip(
    limited_client: httpx.AsyncClient,
) -> None:
    for _ in range(2):
        assert (await limited_client.get("/api/v1/auth/me")).status_code == 200

    response = await limited_client.get("/api/v1/auth/me")

    assert response.status_code == 429


async def test_browser_sign_in_is_limited_per_ip_like_the_token_endpoints(
    limited_client: httpx.AsyncClient,
) -> None:
    for _ in range(2):
        assert (await limited_client.get("/auth/idp/login")).status_code == 200

    response = await limited_client.get("/auth/idp/login")

    assert response.status_code == 429


async def test_a_session_cookie_is_a_subject_whatever_the_other_cookies(
    limited_client: httpx.AsyncClient,
) -> None:
    session = _id()
    for index in range(2):
        cookie = f"mosaic_session={session}; tracking={index}"
        response = await limited_client.post("/api/v1/things", headers={"Cookie": cookie})
        assert response.status_code == 200

    response = await limited_client.post(
        "/api/v1/things", headers={"Cookie": f"tracking=other; mosaic_session={session}"}
    )

    assert response.status_code == 429
