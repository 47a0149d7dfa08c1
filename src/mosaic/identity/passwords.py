"""Password hashing (argon2id) and the password policy.

The cost is configuration (``MOSAIC_ARGON2_*``); a stored hash made with other parameters is
re-hashed at the next successful login. A login for an unknown email verifies against a dummy
hash of the same cost, so the answer takes as long whether or not the account exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, field

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mosaic.core.settings import IdentitySettings


class PasswordPolicyViolation(ValueError):
    """A password the policy refuses; the message says which rule, never the password."""


@dataclass(frozen=True)
class PasswordCheck:
    matches: bool
    needs_rehash: bool = False


@dataclass
class Passwords:
    """Hashing, verification and policy with one set of argon2id parameters."""

    min_length: int
    max_length: int
    hasher: PasswordHasher
    _dummy_hash: str = field(init=False)

    def __post_init__(self) -> None:
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(32))

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> Passwords:
        hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        return cls(
            min_length=settings.password_min_length,
            max_length=settings.password_max_length,
            hasher=hasher,
        )

    def check_policy(self, password: str, *, email: str) -> None:
        """Raise ``PasswordPolicyViolation`` unless ``password`` is acceptable for ``email``."""
        if len(password) < self.min_length:
            raise PasswordPolicyViolation(f"must be at least {self.min_length} characters")
        # The upper bound caps the work one request can make the server do.
        if len(password) > self.max_length:
            raise PasswordPolicyViolation(f"must be at most {self.max_length} characters")
        if not password.strip():
            raise PasswordPolicyViolation("must not be blank")
        lowered = password.strip().lower()
        local_part = email.split("@", 1)[0].lower()
        if lowered == email.lower() or (len(local_part) >= 4 and lowered == local_part):
            raise PasswordPolicyViolation("must not be your email address")
        if len(set(password)) < 4:
            raise PasswordPolicyViolation("must not repeat so few characters")

    async def hash(self, password: str) -> str:
        """The argon2id PHC string of ``password`` (computed off the event loop)."""
        # argon2-cffi releases the GIL, so a thread keeps other requests moving meanwhile.
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> PasswordCheck:
        """Check ``password`` against ``stored_hash``; with no hash, spend the same time."""
        return await asyncio.to_thread(self._verify, stored_hash, password)

    def _verify(self, stored_hash: str | None, password: str) -> PasswordCheck:
        if len(password) > self.max_length:
            # Refused before hashing: an oversized password is never a valid one.
            self._spend(password[: self.max_length])
            return PasswordCheck(matches=False)
        if stored_hash is None:
            self._spend(password)
            return PasswordCheck(matches=False)
        try:
            self.hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return PasswordCheck(matches=False)
        return PasswordCheck(matches=True, needs_rehash=self.hasher.check_needs_rehash(stored_hash))

    def _spend(self, password: str) -> None:
        with contextlib.suppress(VerificationError):
            self.hasher.verify(self._dummy_hash, password)
