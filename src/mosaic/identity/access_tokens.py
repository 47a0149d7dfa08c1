"""Access tokens: short-lived JWTs signed with Ed25519 (``EdDSA``), verified in memory.

The algorithm is pinned: a token whose header names any other algorithm (``none``, ``HS256``
with the public key as its secret, …) is refused before any key is looked at.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import jwt
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.settings import IdentitySettings
from mosaic.identity.errors import InvalidCredentials
from mosaic.identity.signing_keys import ALGORITHM, KeyRing

logger = structlog.get_logger(__name__)

REQUIRED_CLAIMS = ("iss", "aud", "sub", "tid", "role", "iat", "nbf", "exp", "jti")
# Clock skew tolerated between the servers that sign and verify.
LEEWAY_SECONDS = 10


@dataclass(frozen=True)
class AccessClaims:
    """What a verified access token says."""

    user_id: UUID
    tenant_id: UUID
    role: str
    jti: str
    expires_at: datetime


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int


async def issue(
    session: AsyncSession,
    *,
    keys: KeyRing,
    settings: IdentitySettings,
    user_id: UUID,
    tenant_id: UUID,
    role: str,
) -> IssuedToken:
    """Sign an access token for ``user_id`` acting in ``tenant_id``."""
    kid, private_key = await keys.signer(session)
    now = int(datetime.now(UTC).timestamp())
    ttl = settings.access_token_ttl_seconds
    payload = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user_id),
        "tid": str(tenant_id),
        "role": role,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": secrets.token_urlsafe(16),
    }
    token = jwt.encode(payload, private_key, algorithm=ALGORITHM, headers={"kid": kid})
    return IssuedToken(token=token, expires_in=ttl)


def _reject(reason: str) -> InvalidCredentials:
    logger.info("authentication_failed", credential="access_token", reason=reason)
    return InvalidCredentials()


# Tokens this process has verified, with their key id: a token's signature and claims never
# change, so a client's next request only needs the expiry and its key re-checked (Ed25519
# and the JSON parsing are most of the cost of authenticating a request). Bounded; a full
# cache is simply dropped.
_verified: dict[tuple[str, str, str], tuple[str, AccessClaims]] = {}
_MAX_VERIFIED = 10_000


async def verify(
    session: AsyncSession, token: str, *, keys: KeyRing, settings: IdentitySettings
) -> AccessClaims:
    """The claims of a valid access token; ``InvalidCredentials`` for every way it can fail."""
    # The audience and issuer this process expects are part of what was verified.
    memo_key = (token, settings.jwt_issuer, settings.jwt_audience)
    known = _verified.get(memo_key)
    if known is not None:
        kid, claims = known
        still_valid = (
            datetime.now(UTC).timestamp() <= claims.expires_at.timestamp() + LEEWAY_SECONDS
        )
        # A key retired past its grace (or no longer installed) stops verifying at once.
        if still_valid and keys.verifies(kid):
            return claims
        del _verified[memo_key]
    kid, claims = await _verify_signed(session, token, keys=keys, settings=settings)
    if len(_verified) >= _MAX_VERIFIED:
        _verified.clear()
    _verified[memo_key] = (kid, claims)
    return claims


async def _verify_signed(
    session: AsyncSession, token: str, *, keys: KeyRing, settings: IdentitySettings
) -> tuple[str, AccessClaims]:
    """The signing key's id and the claims, checked from scratch."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise _reject("malformed") from None
    if header.get("alg") != ALGORITHM:
        raise _reject("algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _reject("missing_kid")
    key = await keys.verifying_key(session, kid)
    if key is None:
        raise _reject("unknown_kid")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise _reject("expired") from None
    except jwt.ImmatureSignatureError:
        raise _reject("not_yet_valid") from None
    except jwt.InvalidTokenError as exc:
        raise _reject(type(exc).__name__) from None
    try:
        return kid, AccessClaims(
            user_id=UUID(claims["sub"]),
            tenant_id=UUID(claims["tid"]),
            role=str(claims["role"]),
            jti=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except (ValueError, TypeError):
        raise _reject("bad_claims") from None
