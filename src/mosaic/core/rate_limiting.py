"""Rate limits over the ``limits`` library: in process memory by default, in Redis when
``MOSAIC_REDIS_URL`` is set (so every API process shares the counters).

Two layers use it: the ASGI middleware below (per IP on authentication endpoints, per IP and
per credential on writes) and callers that count their own events (login failures).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from mosaic.core.errors import RateLimited, error_response
from mosaic.core.settings import RateLimitSettings

logger = structlog.get_logger(__name__)

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_KEY_PREFIX = "mosaic-limits"


def parse_limit(notation: str) -> RateLimitItem:
    """``"5/15minutes"`` → a limit item; raises ``ValueError`` on bad notation."""
    return parse(notation)


def storage_uri(redis_url: str | None) -> str:
    """The ``limits`` storage URI for a Redis URL, or process memory without one."""
    if redis_url is None:
        return "async+memory://"
    for scheme in ("redis://", "rediss://"):
        if redis_url.startswith(scheme):
            return f"async+{redis_url}"
    if redis_url.startswith("async+"):
        return redis_url
    raise ValueError("MOSAIC_REDIS_URL must start with redis:// or rediss://")


class RateLimiter:
    """Counts events in moving windows, in memory or in Redis."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._strategy = MovingWindowRateLimiter(storage)

    @classmethod
    def from_url(cls, redis_url: str | None) -> RateLimiter:
        """A limiter on Redis at ``redis_url``, or in process memory when it is ``None``."""
        uri = storage_uri(redis_url)
        options = {"key_prefix": _KEY_PREFIX} if redis_url else {}
        storage = storage_from_string(uri, **options)
        assert isinstance(storage, Storage)
        return cls(storage)

    @property
    def backend(self) -> str:
        return type(self._storage).__name__

    async def hit(self, limit: RateLimitItem, *identifiers: str) -> None:
        """Count one event; raise ``RateLimited`` if it goes over ``limit``."""
        if not await self._strategy.hit(limit, *identifiers):
            raise RateLimited(retry_after=await self.retry_after(limit, *identifiers))

    async def hit_quietly(self, limit: RateLimitItem, *identifiers: str) -> bool:
        """Count one event; ``False`` if it went over ``limit`` (no exception)."""
        return await self._strategy.hit(limit, *identifiers)

    async def is_exhausted(self, limit: RateLimitItem, *identifiers: str) -> bool:
        """Whether another event would go over ``limit`` (without counting one)."""
        return not await self._strategy.test(limit, *identifiers)

    async def retry_after(self, limit: RateLimitItem, *identifiers: str) -> int:
        """Whole seconds until the window admits another event (at least 1)."""
        stats = await self._strategy.get_window_stats(limit, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def clear(self, limit: RateLimitItem, *identifiers: str) -> None:
        await self._strategy.clear(limit, *identifiers)

    async def healthy(self) -> bool:
        return await self._storage.check()


@dataclass(frozen=True)
class RequestLimits:
    """The limits the middleware applies, parsed once."""

    auth_per_ip: RateLimitItem
    writes_per_ip: RateLimitItem
    writes_per_subject: RateLimitItem

    @classmethod
    def from_settings(cls, settings: RateLimitSettings) -> RequestLimits:
        return cls(
            auth_per_ip=parse_limit(settings.rate_limit_auth_per_ip),
            writes_per_ip=parse_limit(settings.rate_limit_writes_per_ip),
            writes_per_subject=parse_limit(settings.rate_limit_writes_per_subject),
        )


def _credential_fingerprint(scope: Scope, session_cookie: str | None) -> str | None:
    # The credential is not verified here (that needs the database); its hash is a cheap,
    # stable name for "whoever holds this token". A forged token buys no extra budget: the
    # per-IP limit still applies, and the forged request fails authentication anyway.
    cookie_header = None
    for name, value in scope.get("headers", ()):
        if name in (b"authorization", b"x-api-key") and value:
            return hashlib.sha256(value).hexdigest()[:32]
        if name == b"cookie":
            cookie_header = value
    if session_cookie and cookie_header:
        # Only the session cookie names the subject: other cookies vary freely.
        session = cookie_parser(cookie_header.decode("latin-1")).get(session_cookie)
        if session:
            return hashlib.sha256(session.encode()).hexdigest()[:32]
    return None


class RateLimitMiddleware:
    """429 in the error envelope, with ``Retry-After``, before the route runs."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        limits: RequestLimits,
        api_prefix: str,
        auth_prefixes: tuple[str, ...],
        session_cookie: str | None = None,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.limits = limits
        self.api_prefix = api_prefix
        self.auth_prefixes = auth_prefixes
        self.session_cookie = session_cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self._check(scope)
        except RateLimited as exc:
            logger.info("rate_limited", path=scope["path"], method=scope["method"])
            response = error_response(exc.status_code, exc.code, exc.message, None, exc.headers)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _check(self, scope: Scope) -> None:
        path: str = scope["path"]
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        if path.startswith(self.auth_prefixes):
            await self.limiter.hit(self.limits.auth_per_ip, "auth-ip", ip)
        if not path.startswith(self.api_prefix):
            return
        if scope["method"] in _WRITE_METHODS:
            await self.limiter.hit(self.limits.writes_per_ip, "write-ip", ip)
            subject = _credential_fingerprint(scope, self.session_cookie)
            if subject is not None:
                await self.limiter.hit(self.limits.writes_per_subject, "write-subject", subject)
