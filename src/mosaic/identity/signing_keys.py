"""Ed25519 keys that sign access tokens, stored encrypted, held in memory for verification.

- Private keys are encrypted with AES-256-GCM under a key derived (HKDF-SHA256) from
  ``MOSAIC_SECRET_KEY``; the key id is the associated data, so a ciphertext cannot be moved
  to another row.
- The newest key that is not retired signs. Rotation retires the others: they keep verifying
  for ``VERIFY_GRACE`` (the longest token lifetime plus reload slack), then are deleted.
- Verification needs no query: the key ring holds the public keys and reloads only when a
  token names a key it does not know, at most once per ``RELOAD_INTERVAL``.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.ids import new_id
from mosaic.core.sealing import Sealer
from mosaic.core.settings import MAX_ACCESS_TOKEN_TTL_SECONDS
from mosaic.identity import repository
from mosaic.models import SigningKey

logger = structlog.get_logger(__name__)

ALGORITHM = "EdDSA"
RELOAD_INTERVAL = 5.0
# How often a process re-reads the keys before signing, so a rotation made elsewhere (the
# CLI, another process) takes over signing within this time.
SIGNER_REFRESH_SECONDS = 60.0
VERIFY_GRACE = timedelta(seconds=MAX_ACCESS_TOKEN_TTL_SECONDS + SIGNER_REFRESH_SECONDS + 60)


# The same purpose label (and so the same key and format) the keys were first sealed under.
_SEAL_PURPOSE = "signing-keys/v1"


def encrypt_private_key(secret_key: str, *, kid: str, private_key: Ed25519PrivateKey) -> bytes:
    raw = private_key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return Sealer.for_secret(secret_key, _SEAL_PURPOSE).seal(raw, bound_to=kid.encode())


def decrypt_private_key(secret_key: str, *, kid: str, encrypted: bytes) -> Ed25519PrivateKey:
    raw = Sealer.for_secret(secret_key, _SEAL_PURPOSE).open(encrypted, bound_to=kid.encode())
    return Ed25519PrivateKey.from_private_bytes(raw)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(kid: str, public_key: Ed25519PublicKey) -> dict[str, str]:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(raw),
        "kid": kid,
        "alg": ALGORITHM,
        "use": "sig",
    }


def _public_key_of(jwk: dict[str, str]) -> Ed25519PublicKey:
    padded = jwk["x"] + "=" * (-len(jwk["x"]) % 4)
    return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(padded))


def new_signing_key(secret_key: str, *, now: datetime) -> SigningKey:
    """A fresh key row (not yet added to a session)."""
    kid = new_id().hex
    private_key = Ed25519PrivateKey.generate()
    return SigningKey(
        kid=kid,
        algorithm=ALGORITHM,
        private_key_encrypted=encrypt_private_key(secret_key, kid=kid, private_key=private_key),
        public_jwk=public_jwk(kid, private_key.public_key()),
        created_at=now,
        retired_at=None,
    )


async def ensure_signing_key(session: AsyncSession, *, secret_key: str) -> None:
    """Create the first signing key if there is none (safe when processes start together)."""
    await repository.lock_signing_keys(session)
    if not await repository.has_active_signing_key(session):
        key = new_signing_key(secret_key, now=datetime.now(UTC))
        session.add(key)
        await session.flush()
        logger.info("signing_key_created", kid=key.kid)


async def rotate_signing_keys(session: AsyncSession, *, secret_key: str) -> SigningKey:
    """A new key signs from now on; the others retire, and long-retired ones are deleted."""
    await repository.lock_signing_keys(session)
    now = datetime.now(UTC)
    deleted = await repository.delete_signing_keys_retired_before(session, now - VERIFY_GRACE)
    await repository.retire_signing_keys(session, at=now)
    key = new_signing_key(secret_key, now=now)
    session.add(key)
    await session.flush()
    logger.info("signing_key_rotated", kid=key.kid, deleted=deleted)
    return key


@dataclass
class KeyRing:
    """The signing key and every key that may still verify, held in process memory."""

    secret_key: str
    _signer: tuple[str, Ed25519PrivateKey] | None = None
    _verifiers: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    # Unix time after which a retired key no longer verifies, even if not reloaded yet.
    _usable_until: dict[str, float] = field(default_factory=dict)
    _jwks: list[dict[str, str]] = field(default_factory=list)
    _loaded_at: float = float("-inf")
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def load(self, session: AsyncSession) -> None:
        """Read the usable keys from the database."""
        rows = await repository.usable_signing_keys(session, since=datetime.now(UTC) - VERIFY_GRACE)
        self.install(rows)

    def install(self, rows: Sequence[SigningKey]) -> None:
        """Hold these keys (newest first): the newest unretired one signs."""
        verifiers = {row.kid: _public_key_of(row.public_jwk) for row in rows}
        signing = next((row for row in rows if row.retired_at is None), None)
        signer = None
        if signing is not None:
            signer = (
                signing.kid,
                decrypt_private_key(
                    self.secret_key, kid=signing.kid, encrypted=signing.private_key_encrypted
                ),
            )
        self._signer, self._verifiers = signer, verifiers
        self._usable_until = {
            row.kid: (row.retired_at + VERIFY_GRACE).timestamp()
            for row in rows
            if row.retired_at is not None
        }
        self._jwks = [dict(row.public_jwk) for row in rows]
        self._loaded_at = time.monotonic()

    async def signer(self, session: AsyncSession) -> tuple[str, Ed25519PrivateKey]:
        """The key id and private key that sign new tokens (re-read every minute or so)."""
        if self._signer is None or time.monotonic() - self._loaded_at > SIGNER_REFRESH_SECONDS:
            async with self._lock:
                await self.load(session)
        if self._signer is None:
            raise RuntimeError("No signing key: the API creates one at start-up")
        return self._signer

    def verifies(self, kid: str) -> bool:
        """Whether ``kid`` is held and still verifies tokens now."""
        return self._usable(kid) is not None

    def _usable(self, kid: str) -> Ed25519PublicKey | None:
        key = self._verifiers.get(kid)
        if key is not None and time.time() > self._usable_until.get(kid, float("inf")):
            return None
        return key

    async def verifying_key(self, session: AsyncSession, kid: str) -> Ed25519PublicKey | None:
        """The public key for ``kid``, reloading (rate-limited) if it is not known yet."""
        key = self._usable(kid)
        if key is not None:
            return key
        # Tokens with made-up kids must not turn into a query each: reload at most so often.
        if time.monotonic() - self._loaded_at < RELOAD_INTERVAL:
            return None
        async with self._lock:
            if time.monotonic() - self._loaded_at >= RELOAD_INTERVAL:
                await self.load(session)
        return self._usable(kid)

    async def jwks(self, session: AsyncSession) -> dict[str, Any]:
        """The public keys that verify tokens now, as a JWK Set."""
        if time.monotonic() - self._loaded_at > RELOAD_INTERVAL:
            async with self._lock:
                await self.load(session)
        return {"keys": list(self._jwks)}
