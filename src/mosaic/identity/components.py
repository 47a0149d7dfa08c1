"""The identity module's long-lived parts, built once per process by the composition root."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.mail import Mailer
from mosaic.core.rate_limiting import RateLimiter
from mosaic.core.settings import IdentitySettings
from mosaic.identity import repository
from mosaic.identity.oidc_client import OidcProviders
from mosaic.identity.passwords import Passwords
from mosaic.identity.repository import UserAccess
from mosaic.identity.signing_keys import KeyRing
from mosaic.identity.throttling import LoginThrottle, PasswordResetThrottle

_MAX_CACHED = 10_000


@dataclass
class UserAccessCache:
    """A user's status and membership, trusted for a few seconds per process.

    The trade-off: an access token is verified without a query, but whether its user is still
    active (and still a member of its tenant) needs one. Caching the answer for
    ``ttl_seconds`` saves that query on most requests; the price is that disabling an account
    or removing a member takes up to ``ttl_seconds`` to reach other processes (this process
    forgets at once). ``ttl_seconds = 0`` checks on every request.
    """

    ttl_seconds: float
    _entries: dict[tuple[UUID, UUID], tuple[float, UserAccess | None]] = field(default_factory=dict)

    async def get(self, session: AsyncSession, user_id: UUID, tenant_id: UUID) -> UserAccess | None:
        key = (user_id, tenant_id)
        now = time.monotonic()
        cached = self._entries.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        access = await repository.user_access(session, user_id, tenant_id)
        if self.ttl_seconds > 0:
            if len(self._entries) >= _MAX_CACHED:
                self._entries.clear()
            self._entries[key] = (now + self.ttl_seconds, access)
        return access

    def forget(self, user_id: UUID) -> None:
        """Drop what is cached about a user (their status or memberships changed)."""
        for key in [key for key in self._entries if key[0] == user_id]:
            del self._entries[key]


@dataclass
class IdentityComponents:
    """Settings, signing keys, password hasher, throttles, access cache, OIDC, the mailer."""

    settings: IdentitySettings
    keys: KeyRing
    passwords: Passwords
    throttle: LoginThrottle
    reset_throttle: PasswordResetThrottle
    access_cache: UserAccessCache
    oidc: OidcProviders
    mailer: Mailer

    @classmethod
    def build(
        cls,
        settings: IdentitySettings,
        *,
        secret_key: str,
        limiter: RateLimiter,
        mailer: Mailer,
    ) -> IdentityComponents:
        return cls(
            settings=settings,
            keys=KeyRing(secret_key=secret_key),
            passwords=Passwords.from_settings(settings),
            throttle=LoginThrottle.from_settings(limiter, settings),
            reset_throttle=PasswordResetThrottle.from_settings(limiter, settings),
            access_cache=UserAccessCache(ttl_seconds=settings.user_status_cache_seconds),
            oidc=OidcProviders.from_settings(settings.oidc_providers),
            mailer=mailer,
        )
