"""Password reset for local accounts: a mailed single-use link, without user enumeration.

A request always does the same work (throttle, a fresh token and its hash, one lookup) and the
route always answers alike; only an active account with a password gets a stored token and a
mail. Confirming spends the token with one conditional ``UPDATE``, sets the new password and
signs the user out everywhere (refresh tokens and browser sessions).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.core.errors import ValidationFailed
from mosaic.core.ids import new_id
from mosaic.core.mail import MailMessage
from mosaic.events import record as record_event
from mosaic.identity import oidc_repository, password_reset_repository, repository
from mosaic.identity.audit import AuditAction, AuditRecord, Origin, record, record_independently
from mosaic.identity.auth_service import AuthFailure
from mosaic.identity.components import IdentityComponents
from mosaic.identity.errors import ResetTokenInvalid
from mosaic.identity.events import PasswordChanged
from mosaic.identity.passwords import PasswordPolicyViolation
from mosaic.identity.schemas import normalise_email
from mosaic.models import MembershipState, PasswordResetToken, User, UserStatus

logger = structlog.get_logger(__name__)

RESET_TOKEN_BYTES = 32  # 256 bits
RESET_PATH = "/reset-password"


def hash_reset_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _refusal(user: User | None) -> str | None:
    """Why an account gets no reset mail, or ``None`` if it qualifies."""
    if user is None:
        return "unknown_email"
    if user.status is not UserStatus.ACTIVE:
        return "account_disabled"
    if user.password_hash is None:
        return "no_local_password"
    return None


async def request_reset(
    session: AsyncSession,
    *,
    components: IdentityComponents,
    sessionmaker: async_sessionmaker[AsyncSession],
    email: str,
    link_base: str,
    origin: Origin,
) -> MailMessage | None:
    """Store a reset token if ``email`` is an active local account, and return the mail with
    its link (else None). The caller sends it once the token is committed (a link to a token
    that was never stored is useless), and after answering, so that how long a mail server
    takes never tells whether an account exists."""
    email = normalise_email(email)
    await components.reset_throttle.hit(email=email, ip=origin.ip_address or "unknown")
    # Made for every request, account or not, so both kinds do the same work.
    token = secrets.token_urlsafe(RESET_TOKEN_BYTES)
    token_hash = hash_reset_token(token)
    user = await repository.get_user_by_email(session, email)
    refusal = _refusal(user)
    if user is None:
        # Not audited: anyone can type any address, and the log would fill with them.
        logger.info("password_reset_ignored", reason=refusal)
        return None
    entry = AuditRecord(
        action=AuditAction.PASSWORD_RESET_REQUESTED,
        actor_user_id=user.id,
        subject=f"user:{user.id}",
        origin=origin,
    )
    if refusal is not None:
        logger.info("password_reset_ignored", reason=refusal, user_id=str(user.id))
        await record_independently(sessionmaker, replace(entry, outcome="ignored", reason=refusal))
        return None
    now = datetime.now(UTC)
    ttl = timedelta(minutes=components.settings.password_reset_ttl_minutes)
    superseded = await password_reset_repository.delete_unused_tokens(session, user.id, now=now)
    session.add(
        PasswordResetToken(
            id=new_id(),
            user_id=user.id,
            token_hash=token_hash,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    await session.flush()
    # The link and the token are never logged: either resets the password.
    logger.info("password_reset_token_stored", user_id=str(user.id))
    # Its own transaction: the request stays on record even if the answer's commit fails.
    await record_independently(sessionmaker, replace(entry, details={"superseded": superseded}))
    return _reset_mail(to=user.email, link=f"{link_base}{RESET_PATH}?token={token}", ttl=ttl)


def _reset_mail(*, to: str, link: str, ttl: timedelta) -> MailMessage:
    minutes = int(ttl.total_seconds() // 60)
    body = (
        "Someone (hopefully you) asked to reset the password of your Mosaic account.\n\n"
        f"Choose a new password here within {minutes} minutes:\n\n{link}\n\n"
        "The link works once. If you did not ask for this, ignore this message: your "
        "password stays as it is.\n"
    )
    return MailMessage(to=to, subject="Reset your Mosaic password", body=body)


async def confirm_reset(
    session: AsyncSession,
    *,
    components: IdentityComponents,
    token: str,
    new_password: str,
    origin: Origin,
) -> None:
    """Set a new password with a valid token; sign the user out everywhere."""
    failed = AuditRecord(action=AuditAction.PASSWORD_RESET, outcome="failure", origin=origin)
    now = datetime.now(UTC)
    found = await password_reset_repository.find_token(session, hash_reset_token(token))
    if found is None:
        raise AuthFailure(ResetTokenInvalid(), replace(failed, reason="unknown_token"))
    failed = replace(failed, actor_user_id=found.user_id, subject=f"user:{found.user_id}")
    if found.used_at is not None:
        raise AuthFailure(ResetTokenInvalid(), replace(failed, reason="token_used"))
    if found.expires_at <= now:
        raise AuthFailure(ResetTokenInvalid(), replace(failed, reason="token_expired"))
    user = await repository.get_user(session, found.user_id)
    refusal = _refusal(user)
    if user is None or refusal is not None:
        # Disabled (or its password removed) since the mail was sent: the link is dead too.
        raise AuthFailure(ResetTokenInvalid(), replace(failed, reason=refusal))
    try:
        components.passwords.check_policy(new_password, email=user.email)
    except PasswordPolicyViolation as exc:
        # Before the token is spent: the request rolls back and the link still works.
        raise ValidationFailed(
            details=[
                {"loc": ["body", "new_password"], "message": str(exc), "type": "password_policy"}
            ]
        ) from None
    password_hash = await components.passwords.hash(new_password)
    if await password_reset_repository.claim_token(session, found.id, now=now) is None:
        # A concurrent confirm with the same token committed first.
        raise AuthFailure(ResetTokenInvalid(), replace(failed, reason="token_used"))
    user.password_hash = password_hash
    revoked = await repository.revoke_user_refresh_tokens(
        session, user.id, reason="password_reset", at=now
    )
    sessions_revoked = await oidc_repository.revoke_user_browser_sessions(session, user.id, at=now)
    await session.flush()
    components.access_cache.forget(user.id)
    # Proving control of the mailbox forgives the account's failed logins.
    await components.throttle.record_success(email=user.email)
    logger.info("password_reset", user_id=str(user.id))
    # No request tenant here: every tenant the user belongs to hears that their sessions ended.
    for membership in await repository.memberships_of(session, user.id):
        if membership.state is MembershipState.ACTIVE:
            await record_event(
                session,
                PasswordChanged(tenant_id=membership.tenant_id, resource_id=user.id),
                actor_id=str(user.id),
            )
    await record(
        session,
        AuditRecord(
            action=AuditAction.PASSWORD_RESET,
            actor_user_id=user.id,
            subject=f"user:{user.id}",
            origin=origin,
            details={
                "refresh_tokens_revoked": revoked,
                "browser_sessions_revoked": sessions_revoked,
            },
        ),
    )
