"""Login throttling: failed logins counted per account and per client IP.

Only failures count, so a user who types the password right is never slowed down; once an
account (or an IP) reaches its limit, further attempts are refused with 429 before the
password is even checked, until the moving window frees a slot.
"""

from __future__ import annotations

from dataclasses import dataclass

from limits import RateLimitItem

from mosaic.core.rate_limiting import RateLimiter, parse_limit
from mosaic.core.settings import IdentitySettings


@dataclass(frozen=True)
class LoginThrottle:
    limiter: RateLimiter
    per_account: RateLimitItem
    per_ip: RateLimitItem

    @classmethod
    def from_settings(cls, limiter: RateLimiter, settings: IdentitySettings) -> LoginThrottle:
        return cls(
            limiter=limiter,
            per_account=parse_limit(settings.login_failures_per_account),
            per_ip=parse_limit(settings.login_failures_per_ip),
        )

    async def retry_after(self, *, email: str, ip: str) -> int | None:
        """Seconds to wait if the account or the IP has used up its failures, else ``None``."""
        waits = [
            await self.limiter.retry_after(limit, *identifiers)
            for limit, identifiers in self._counters(email=email, ip=ip)
            if await self.limiter.is_exhausted(limit, *identifiers)
        ]
        return max(waits) if waits else None

    async def record_failure(self, *, email: str, ip: str) -> None:
        for limit, identifiers in self._counters(email=email, ip=ip):
            # The counter may already be full (concurrent failures); that is no error here.
            await self.limiter.hit_quietly(limit, *identifiers)

    async def record_success(self, *, email: str) -> None:
        """A correct password forgives the account's earlier failures (not the IP's)."""
        await self.limiter.clear(self.per_account, "login-account", email)

    def _counters(self, *, email: str, ip: str) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        return [(self.per_account, ("login-account", email)), (self.per_ip, ("login-ip", ip))]


@dataclass(frozen=True)
class PasswordResetThrottle:
    """Reset requests per email and per IP; every request counts, known email or not."""

    limiter: RateLimiter
    per_account: RateLimitItem
    per_ip: RateLimitItem

    @classmethod
    def from_settings(
        cls, limiter: RateLimiter, settings: IdentitySettings
    ) -> PasswordResetThrottle:
        return cls(
            limiter=limiter,
            per_account=parse_limit(settings.password_reset_requests_per_account),
            per_ip=parse_limit(settings.password_reset_requests_per_ip),
        )

    async def hit(self, *, email: str, ip: str) -> None:
        """Count one request; raise ``RateLimited`` once the IP or the email is over its limit."""
        # Counting unknown emails too keeps the 429 from telling which emails have accounts.
        await self.limiter.hit(self.per_ip, "reset-ip", ip)
        await self.limiter.hit(self.per_account, "reset-account", email)
