"""Browser sessions (the BFF pattern): an opaque cookie, a server-side row, and CSRF checks.

The cookie holds 256 random bits; the row stores only their SHA-256, so a copy of the table
signs no one in. Each session carries a CSRF token (double submit): a readable cookie whose
value the web app echoes in ``X-CSRF-Token`` on unsafe requests, checked against the hash in
the row, together with the request's ``Origin``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.ids import new_id
from mosaic.core.principal import Credential, Principal, PrincipalKind
from mosaic.identity import auth_service, oidc_repository
from mosaic.identity.audit import AuditAction, AuditRecord, Origin, record
from mosaic.identity.components import IdentityComponents
from mosaic.identity.errors import CsrfFailed, InvalidCredentials
from mosaic.models import BrowserSession

logger = structlog.get_logger(__name__)

SESSION_COOKIE = "mosaic_session"
CSRF_COOKIE = "mosaic_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_SECRET_BYTES = 32  # 256 bits
# last_seen_at is a courtesy for "your sessions" lists: written at most this often.
_LAST_SEEN_RESOLUTION = timedelta(minutes=1)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedSession:
    """A new session's cookie values (shown once) and when it ends."""

    session_id: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class SessionAuthentication:
    """A valid session's principal, and the CSRF hash its unsafe requests are checked against."""

    principal: Principal
    session_id: UUID
    csrf_hash: str


async def start(
    session: AsyncSession,
    *,
    components: IdentityComponents,
    user_id: UUID,
    tenant_id: UUID,
    provider: str | None,
    origin: Origin,
    replacing: str | None,
) -> IssuedSession:
    """Create a session (and revoke the one this browser presented: a new id per login)."""
    now = datetime.now(UTC)
    if replacing:
        previous = await oidc_repository.find_browser_session(session, hash_secret(replacing))
        if previous is not None:
            await oidc_repository.revoke_browser_session(session, previous.id, at=now)
    issued = IssuedSession(
        session_id=secrets.token_urlsafe(_SECRET_BYTES),
        csrf_token=secrets.token_urlsafe(_SECRET_BYTES),
        expires_at=now + timedelta(days=components.settings.browser_session_ttl_days),
    )
    session.add(
        BrowserSession(
            id=new_id(),
            session_hash=hash_secret(issued.session_id),
            user_id=user_id,
            tenant_id=tenant_id,
            csrf_hash=hash_secret(issued.csrf_token),
            provider=provider,
            created_at=now,
            expires_at=issued.expires_at,
            last_seen_at=now,
            ip_address=origin.ip_address,
            user_agent=origin.user_agent,
        )
    )
    await session.flush()
    return issued


async def authenticate(
    session: AsyncSession, *, components: IdentityComponents, cookie: str
) -> SessionAuthentication:
    """The principal of a live session whose user is active and still a member of its tenant."""
    found = await oidc_repository.find_browser_session(session, hash_secret(cookie))
    now = datetime.now(UTC)
    if found is None or found.revoked_at is not None or found.expires_at <= now:
        reason = "unknown" if found is None else "revoked" if found.revoked_at else "expired"
        logger.info("authentication_failed", credential="session_cookie", reason=reason)
        raise InvalidCredentials()
    access = await auth_service.may_authenticate(
        session, components=components, user_id=found.user_id, tenant_id=found.tenant_id
    )
    if found.last_seen_at is None or now - found.last_seen_at >= _LAST_SEEN_RESOLUTION:
        found.last_seen_at = now
        await session.flush()
    principal = Principal(
        kind=PrincipalKind.USER,
        subject_id=found.user_id,
        tenant_id=found.tenant_id,
        credential=Credential.SESSION_COOKIE,
        user_id=found.user_id,
        platform_role=access.role,
    )
    return SessionAuthentication(
        principal=principal, session_id=found.id, csrf_hash=found.csrf_hash
    )


def allowed_origins(*, configured: list[str], own_origin: str) -> frozenset[str]:
    """The origins a cookie-authenticated unsafe request may come from."""
    return frozenset(_normalise_origin(value) for value in [*configured, own_origin])


@dataclass(frozen=True)
class CsrfEvidence:
    """What a request shows about where it came from, for the CSRF checks."""

    method: str
    origin: str | None
    referer: str | None
    token: str | None
    allowed: frozenset[str]


def csrf_failure(evidence: CsrfEvidence, *, csrf_hash: str) -> str | None:
    """Why an unsafe cookie request fails the CSRF checks, or ``None`` if it passes."""
    if evidence.method.upper() in SAFE_METHODS:
        return None
    # Browsers send Origin on every unsafe request; Referer is the fallback some privacy
    # settings leave. A request with neither cannot show where it came from.
    source = evidence.origin
    if source is None and evidence.referer:
        source = _origin_of(evidence.referer)
    if source is None:
        return "origin_missing"
    if _normalise_origin(source) not in evidence.allowed:
        return "origin_not_allowed"
    if not evidence.token:
        return "token_missing"
    if not hmac.compare_digest(hash_secret(evidence.token), csrf_hash):
        return "token_mismatch"
    return None


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def _normalise_origin(value: str) -> str:
    return value.strip().rstrip("/").lower()


async def end(
    session: AsyncSession, *, cookie: str | None, csrf: CsrfEvidence, origin: Origin
) -> None:
    """Revoke the presented session (logout); an unknown or spent one changes nothing.

    Logging out is an unsafe request like any other: a foreign page must not sign you out.
    """
    if not cookie:
        return
    found = await oidc_repository.find_browser_session(session, hash_secret(cookie))
    if found is None or found.revoked_at is not None:
        return
    reason = csrf_failure(csrf, csrf_hash=found.csrf_hash)
    if reason is not None:
        failed = AuditRecord(
            action=AuditAction.ACCESS_DENIED,
            outcome="failure",
            tenant_id=found.tenant_id,
            actor_user_id=found.user_id,
            subject="csrf",
            reason=reason,
            origin=origin,
        )
        raise auth_service.AuthFailure(CsrfFailed(), failed)
    await oidc_repository.revoke_browser_session(session, found.id, at=datetime.now(UTC))
    await record(
        session,
        AuditRecord(
            action=AuditAction.LOGOUT,
            tenant_id=found.tenant_id,
            actor_user_id=found.user_id,
            subject=f"browser_session:{found.id}",
            origin=origin,
        ),
    )
