"""Outbound HTTP for ingestion and webhooks: polite to other servers, patient with failures.

Seed 001 asks ingestion to "respect API limits" and to retry "with exponential backoff".
:class:`OutboundHttp` wraps one ``httpx.AsyncClient`` and adds, per request:

- a **per-host rate limit** (a moving window, in memory, from the ``limits`` library): a
  request over the limit waits for a free slot instead of being refused;
- **timeouts** on connect, read, write and pool acquisition;
- **retries** with exponential backoff and jitter (``tenacity``) on connection failures, 429
  and 5xx answers, honouring ``Retry-After`` (seconds or an HTTP date), within a budget of
  attempts and of total time;
- a **User-Agent** naming Mosaic, so an operator on the other side knows who calls.

A request that may have reached the server (a read timeout, a 500) is retried only when it is
idempotent: GET, HEAD, OPTIONS, PUT and DELETE, or a request the caller marks so (a webhook
carries its event id, so receivers can drop a duplicate). 429 and 503 mean the server did not
process it, and a connection that never opened sent nothing: those are retried for any method.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self

import httpx
import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from mosaic import __version__

logger = structlog.get_logger(__name__)

USER_AGENT = f"Mosaic/{__version__} (outbound HTTP; ingestion and webhooks)"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# The server says it did not handle the request: safe to send again whatever the method.
NOT_PROCESSED_STATUSES = frozenset({429, 503})
# Worth another try for an idempotent request; 501 and 505 will not change on a retry.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times, how long apart, and for how long in all, a request is retried."""

    # Attempts in all, the first included.
    attempts: int = 4
    backoff_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    # No retry starts once this much time has gone by since the first attempt.
    budget_seconds: float = 120.0
    # A ``Retry-After`` longer than this is not waited for: the answer goes to the caller.
    max_retry_after_seconds: float = 300.0


class _RetryableAnswer(Exception):
    """A response worth trying again (carried through tenacity, returned if retries run out)."""

    def __init__(self, response: httpx.Response, retry_after: float | None) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.retry_after = retry_after


class OutboundHttp:
    """An HTTP client for calls to other servers; one per process, closed at shutdown."""

    def __init__(
        self,
        *,
        rate_limit: str = "10/second",
        host_rate_limits: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        user_agent: str = USER_AGENT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._default_limit = parse(rate_limit)
        self._host_limits = {
            host.lower(): parse(limit) for host, limit in (host_rate_limits or {}).items()
        }
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._client = httpx.AsyncClient(
            timeout=timeout,
            headers={"User-Agent": user_agent},
            transport=transport,
            follow_redirects=False,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, *, idempotent: bool = False, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, idempotent=idempotent, **kwargs)

    async def request(
        self, method: str, url: str, *, idempotent: bool | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send with throttling and retries; the final response, whatever its status.

        Raises the last ``httpx.TransportError`` (connect error, timeout) when every attempt
        failed without an answer.
        """
        method = method.upper()
        retries_anything = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        host = httpx.URL(url).host.lower()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.attempts)
            | stop_before_delay(self.retry.budget_seconds),
            wait=self._wait,
            retry=retry_if_exception_type(
                (_RetryableAnswer, httpx.TransportError)
                if retries_anything
                else (_RetryableAnswer, httpx.ConnectError, httpx.ConnectTimeout)
            ),
            before_sleep=lambda state: _log_retry(method, host, state),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._throttle(host)
                    response = await self._client.request(method, url, **kwargs)
                    self._raise_if_retryable(response, retries_anything=retries_anything)
                    return response
        except _RetryableAnswer as answer:
            return answer.response
        raise AssertionError("unreachable: tenacity either returns, retries or raises")

    def _raise_if_retryable(self, response: httpx.Response, *, retries_anything: bool) -> None:
        status = response.status_code
        retryable = status in NOT_PROCESSED_STATUSES or (
            retries_anything and status in TRANSIENT_STATUSES
        )
        if not retryable:
            return
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None and retry_after > self.retry.max_retry_after_seconds:
            return  # longer than we will wait: the caller decides (e.g. reschedules the poll)
        raise _RetryableAnswer(response, retry_after)

    def _wait(self, state: RetryCallState) -> float:
        backoff = wait_exponential_jitter(
            multiplier=self.retry.backoff_seconds,
            max=self.retry.backoff_max_seconds,
            jitter=self.retry.backoff_seconds,
        )(state)
        failure = state.outcome.exception() if state.outcome is not None else None
        if isinstance(failure, _RetryableAnswer) and failure.retry_after is not None:
            # The server said when: wait that long (never less), not our guess.
            return max(failure.retry_after, 0.0)
        return backoff

    async def _throttle(self, host: str) -> None:
        """Wait until ``host``'s moving window has room for one more request."""
        limit = self._host_limits.get(host, self._default_limit)
        # Polled at the moment the window frees a slot; concurrent callers race for it fairly.
        while not await self._limiter.hit(limit, "outbound", host):  # noqa: ASYNC110
            await asyncio.sleep(await self._until_free(limit, host))

    async def _until_free(self, limit: RateLimitItem, host: str) -> float:
        stats = await self._limiter.get_window_stats(limit, "outbound", host)
        return max(stats.reset_time - time.time(), 0.01)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or HTTP-date); None if
    absent or unreadable. A date in the past means "now" (0)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def _log_retry(method: str, host: str, state: RetryCallState) -> None:
    failure = state.outcome.exception() if state.outcome is not None else None
    # Host only: a URL's path or query may carry a token.
    logger.warning(
        "outbound_http_retry",
        method=method,
        host=host,
        attempt=state.attempt_number,
        reason=str(failure) if isinstance(failure, _RetryableAnswer) else type(failure).__name__,
        wait_seconds=round(state.upcoming_sleep, 3),
    )
