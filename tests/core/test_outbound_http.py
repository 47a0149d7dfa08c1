"""Outbound HTTP against a real local server: Retry-After, 5xx, timeouts, rate-limit spacing."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from uuid import uuid4

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mosaic.core.outbound_http import USER_AGENT, OutboundHttp, RetryPolicy, parse_retry_after

FAST = RetryPolicy(attempts=3, backoff_seconds=0.05, backoff_max_seconds=0.2)
hits: Counter[str] = Counter()
arrivals: dict[str, list[float]] = {}


def _record(request: Request) -> int:
    """Count this request against its path; the 1-based number of the hit."""
    path = request.url.path
    hits[path] += 1
    arrivals.setdefault(path, []).append(time.monotonic())
    return hits[path]


async def throttled_once(request: Request) -> Response:
    if _record(request) == 1:
        return Response(status_code=429, headers={"Retry-After": "1"})
    return JSONResponse({"ok": True})


async def throttled_until_date(request: Request) -> Response:
    if _record(request) == 1:
        when = datetime.now(UTC) + timedelta(seconds=2)
        return Response(
            status_code=429, headers={"Retry-After": format_datetime(when, usegmt=True)}
        )
    return JSONResponse({"ok": True})


async def throttled_for_an_hour(request: Request) -> Response:
    _record(request)
    return Response(status_code=429, headers={"Retry-After": "3600"})


async def down(request: Request) -> Response:
    _record(request)
    return Response(status_code=503)


async def recovering(request: Request) -> Response:
    return Response(status_code=502 if _record(request) == 1 else 200)


async def broken(request: Request) -> Response:
    _record(request)
    return Response(status_code=500)


async def slow(request: Request) -> Response:
    _record(request)
    await asyncio.sleep(1.0)
    return Response(status_code=200)


async def echo(request: Request) -> Response:
    _record(request)
    return JSONResponse({"user_agent": request.headers.get("user-agent")})


PATHS = {
    "/throttled-once/{id}": throttled_once,
    "/throttled-until-date/{id}": throttled_until_date,
    "/throttled-for-an-hour/{id}": throttled_for_an_hour,
    "/down/{id}": down,
    "/recovering/{id}": recovering,
    "/broken/{id}": broken,
    "/slow/{id}": slow,
    "/echo/{id}": echo,
}


class _SignalFreeServer(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@pytest.fixture(scope="module")
async def upstream() -> AsyncIterator[str]:
    """A tiny Starlette app behind a real uvicorn on a loopback port."""
    app = Starlette(
        routes=[Route(path, handler, methods=["GET", "POST"]) for path, handler in PATHS.items()]
    )
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = _SignalFreeServer(uvicorn.Config(app, log_config=None, access_log=False))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving
    listener.close()


def path(kind: str) -> str:
    return f"/{kind}/{uuid4().hex}"


async def test_a_429_is_retried_after_its_retry_after_seconds(upstream: str) -> None:
    where = path("throttled-once")
    async with OutboundHttp(retry=FAST) as http:
        response = await http.get(upstream + where)

    assert response.status_code == 200
    assert hits[where] == 2
    first, second = arrivals[where]
    assert second - first >= 0.95


async def test_a_retry_after_http_date_is_honoured(upstream: str) -> None:
    where = path("throttled-until-date")
    async with OutboundHttp(retry=FAST) as http:
        response = await http.post(upstream + where)  # 429: retried even for a POST

    assert response.status_code == 200
    first, second = arrivals[where]
    # An HTTP date has whole seconds: at least one second later, at most about two.
    assert 0.95 <= second - first <= 2.5


async def test_a_retry_after_beyond_the_limit_is_handed_back_at_once(upstream: str) -> None:
    where = path("throttled-for-an-hour")
    async with OutboundHttp(retry=FAST) as http:
        response = await http.get(upstream + where)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3600"
    assert hits[where] == 1


async def test_503s_are_retried_until_the_attempts_run_out(upstream: str) -> None:
    where = path("down")
    async with OutboundHttp(retry=FAST) as http:
        response = await http.get(upstream + where)

    assert response.status_code == 503
    assert hits[where] == 3


async def test_a_transient_502_is_retried_to_success(upstream: str) -> None:
    where = path("recovering")
    async with OutboundHttp(retry=FAST) as http:
        response = await http.get(upstream + where)

    assert response.status_code == 200
    assert hits[where] == 2


async def test_a_500_is_retried_for_a_get_but_not_for_a_plain_post(upstream: str) -> None:
    get_path, post_path, webhook_path = path("broken"), path("broken"), path("broken")
    async with OutboundHttp(retry=FAST) as http:
        got = await http.get(upstream + get_path)
        posted = await http.post(upstream + post_path)
        delivered = await http.post(upstream + webhook_path, idempotent=True)

    assert (got.status_code, posted.status_code, delivered.status_code) == (500, 500, 500)
    assert (hits[get_path], hits[post_path], hits[webhook_path]) == (3, 1, 3)


async def test_a_slow_server_times_out_and_the_timeout_is_retried(upstream: str) -> None:
    where = path("slow")
    timeout = httpx.Timeout(connect=1.0, read=0.2, write=1.0, pool=1.0)
    async with OutboundHttp(retry=FAST, timeout=timeout) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(upstream + where)

    assert hits[where] == 3


async def test_a_refused_connection_is_retried_then_raised() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    started = time.monotonic()
    async with OutboundHttp(retry=FAST) as http:
        with pytest.raises(httpx.ConnectError):
            await http.post(f"http://127.0.0.1:{closed_port}/webhook")

    # Two backoff waits of at least 0.05 s and 0.1 s went by.
    assert time.monotonic() - started >= 0.15


async def test_requests_to_one_host_are_spaced_by_its_rate_limit(upstream: str) -> None:
    where = path("echo")
    async with OutboundHttp(host_rate_limits={"127.0.0.1": "2/second"}, retry=FAST) as http:
        responses = await asyncio.gather(*(http.get(upstream + where) for _ in range(5)))

    assert [response.status_code for response in responses] == [200] * 5
    times = sorted(arrivals[where])
    # Never more than two in any one-second window: the 3rd waits ~1 s, the 5th ~2 s.
    assert all(later - earlier >= 0.9 for earlier, later in zip(times, times[2:], strict=False))
    assert times[-1] - times[0] >= 1.9


async def test_every_request_names_mosaic_as_its_user_agent(upstream: str) -> None:
    async with OutboundHttp() as http:
        response = await http.get(upstream + path("echo"))

    assert response.json() == {"user_agent": USER_AGENT}
    assert USER_AGENT.startswith("Mosaic/")


def test_retry_after_parses_seconds_dates_and_nonsense() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)

    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after("Sun, 06 Dec 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sun, 06 Dec 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("-5", now=now) is None
    assert parse_retry_after(None) is None
