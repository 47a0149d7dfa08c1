"""Signing in with OpenID Connect (Authorization Code + PKCE), account linking, and a user's
linked identities.

Failures are raised as ``AuthFailure`` (audited as ``login_failed`` in a transaction of their
own by the route, like password logins). A login in flight is consumed by the route in its own
transaction before anything else, so a state works once even when the callback then fails.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from uuid import UUID

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.ids import new_id
from mosaic.events import record as record_event
from mosaic.identity import auth_service, oidc_repository, repository, session_service
from mosaic.identity.audit import AuditAction, AuditRecord, Origin, record
from mosaic.identity.auth_service import AuthFailure
from mosaic.identity.components import IdentityComponents
from mosaic.identity.errors import (
    IdentityNotFound,
    InvalidCredentials,
    LastSignInMethod,
    NoTenantAccess,
    OidcAccessDenied,
    OidcCodeRejected,
    OidcEmailInUse,
    OidcEmailRequired,
    OidcIdTokenInvalid,
    OidcLoginFailed,
    OidcProviderNotFound,
    OidcProviderUnavailable,
    OidcStateInvalid,
)
from mosaic.identity.events import UserRegistered
from mosaic.identity.oidc_client import (
    CodeRejected,
    IdTokenClaims,
    IdTokenInvalid,
    OidcClient,
    ProviderUnavailable,
)
from mosaic.identity.schemas import normalise_email
from mosaic.models import OidcLogin, User, UserIdentity, UserStatus

logger = structlog.get_logger(__name__)

_STATE_BYTES = 32
_VERIFIER_BYTES = 48  # 64 characters, inside RFC 7636's 43-128


def provider_client(components: IdentityComponents, provider: str) -> OidcClient:
    """The configured provider of this name; 404 otherwise."""
    client = components.oidc.get(provider)
    if client is None:
        raise OidcProviderNotFound()
    return client


def safe_redirect(target: str | None, *, allowed_origins: frozenset[str], default: str) -> str:
    """``target`` if it is a local path or a URL on an allowed origin; else ``default``.

    Anything else would make the login an open redirect: a link that signs you in and then
    hands you to a page of the attacker's choosing.
    """
    if not target or len(target) > 2048 or any(not c.isprintable() for c in target):
        return default
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    parts = urlsplit(target)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if parts.scheme in {"http", "https"} and parts.netloc and origin in allowed_origins:
        return target
    logger.info("oidc_redirect_refused")
    return default


async def begin_login(
    session: AsyncSession,
    *,
    components: IdentityComponents,
    provider: str,
    callback_url: str,
    return_to: str | None,
    allowed_origins: frozenset[str],
) -> str:
    """Record a login in flight (state, nonce, PKCE verifier); the provider URL to go to."""
    client = provider_client(components, provider)
    state = secrets.token_urlsafe(_STATE_BYTES)
    nonce = secrets.token_urlsafe(_STATE_BYTES)
    verifier = secrets.token_urlsafe(_VERIFIER_BYTES)
    try:
        url = await client.authorization_url(
            redirect_uri=callback_url, state=state, nonce=nonce, code_verifier=verifier
        )
    except ProviderUnavailable:
        raise OidcProviderUnavailable() from None
    now = datetime.now(UTC)
    # Abandoned logins would pile up: each start sweeps the expired ones.
    await oidc_repository.delete_expired_logins(session, now=now)
    session.add(
        OidcLogin(
            state_hash=session_service.hash_secret(state),
            provider=provider,
            nonce=nonce,
            code_verifier=verifier,
            redirect_to=safe_redirect(
                return_to,
                allowed_origins=allowed_origins,
                default=components.settings.post_login_redirect,
            ),
            created_at=now,
            expires_at=now + timedelta(seconds=components.settings.oidc_login_ttl_seconds),
        )
    )
    await session.flush()
    return url


async def take_login(session: AsyncSession, *, state: str | None) -> OidcLogin | None:
    """Consume the login in flight that ``state`` names (once: it is deleted)."""
    if not state or len(state) > 256:
        return None
    return await oidc_repository.take_login(session, session_service.hash_secret(state))


@dataclass(frozen=True)
class OidcSignIn:
    """A completed sign-in: who, in which tenant, and where the browser goes next."""

    user: User
    tenant_id: UUID
    redirect_to: str


async def complete_login(
    session: AsyncSession,
    *,
    components: IdentityComponents,
    provider: str,
    login: OidcLogin | None,
    code: str | None,
    error: str | None,
    callback_url: str,
    origin: Origin,
) -> OidcSignIn:
    """Check the callback, exchange the code, validate the ID token, find or create the user."""
    client = provider_client(components, provider)
    failed = AuditRecord(
        action=AuditAction.LOGIN_FAILED,
        outcome="failure",
        subject=f"oidc:{provider}",
        origin=origin,
        details={"method": "oidc", "provider": provider},
    )
    # A provider's error ends the login whatever its state (some omit the state then): it
    # signs no one in, so it cannot be abused, and the person learns what happened.
    if error is not None:
        denied = OidcAccessDenied() if error == "access_denied" else OidcLoginFailed()
        raise AuthFailure(denied, replace(failed, reason=f"provider_error:{error[:40]}"))
    if login is None or login.provider != provider:
        raise AuthFailure(OidcStateInvalid(), replace(failed, reason="state_unknown_or_used"))
    if login.expires_at <= datetime.now(UTC):
        raise AuthFailure(OidcStateInvalid(), replace(failed, reason="login_expired"))
    if not code:
        raise AuthFailure(OidcLoginFailed(), replace(failed, reason="code_missing"))
    try:
        id_token = await client.exchange_code(
            code=code, redirect_uri=callback_url, code_verifier=login.code_verifier
        )
        claims = await client.validate_id_token(id_token, nonce=login.nonce)
    except ProviderUnavailable:
        raise AuthFailure(
            OidcProviderUnavailable(), replace(failed, reason="provider_unavailable")
        ) from None
    except CodeRejected as exc:
        reason = f"code_rejected:{exc.error}"
        raise AuthFailure(OidcCodeRejected(), replace(failed, reason=reason)) from None
    except IdTokenInvalid as exc:
        reason = f"id_token_invalid:{str(exc)[:40]}"
        raise AuthFailure(OidcIdTokenInvalid(), replace(failed, reason=reason)) from None
    failed = replace(failed, subject=f"oidc:{provider}:{claims.subject}"[:255])
    user = await _resolve_user(
        session, components=components, provider=provider, claims=claims, failed=failed
    )
    failed = replace(failed, actor_user_id=user.id)
    if user.status is not UserStatus.ACTIVE:
        raise AuthFailure(
            InvalidCredentials("This account is disabled"),
            replace(failed, reason="account_disabled"),
        )
    membership = await auth_service.choose_membership(session, user=user, requested=None)
    if membership is None:
        # The account (and its link) stays, as self-registration's does in invite_only mode:
        # an invitation can then find it.
        raise AuthFailure(
            NoTenantAccess(), replace(failed, reason="no_membership"), keep_changes=True
        )
    user.last_login_at = datetime.now(UTC)
    await session.flush()
    await session.refresh(user)  # updated_at is set by the database
    await record(
        session,
        AuditRecord(
            action=AuditAction.LOGIN,
            tenant_id=membership.tenant_id,
            actor_user_id=user.id,
            subject=f"user:{user.id}",
            origin=origin,
            details={"method": "oidc", "provider": provider},
        ),
    )
    return OidcSignIn(user=user, tenant_id=membership.tenant_id, redirect_to=login.redirect_to)


async def _resolve_user(
    session: AsyncSession,
    *,
    components: IdentityComponents,
    provider: str,
    claims: IdTokenClaims,
    failed: AuditRecord,
) -> User:
    """The user of (provider, sub): known, linked by a verified email, or newly created."""
    now = datetime.now(UTC)
    identity = await oidc_repository.find_identity(
        session, provider=provider, subject=claims.subject
    )
    if identity is not None:
        identity.email = claims.email[:320] if claims.email else identity.email
        identity.email_verified = claims.email_verified
        identity.last_login_at = now
        user = await repository.get_user(session, identity.user_id)
        assert user is not None  # the foreign key cascades deletes
        return user
    if claims.email is None:
        raise AuthFailure(OidcEmailRequired(), replace(failed, reason="email_missing"))
    email = normalise_email(claims.email)[:320]
    user = await repository.get_user_by_email(session, email)
    if user is not None:
        # Only the provider's word that the address is theirs may join two accounts; an
        # unverified claim would let anyone take over the account of any email they type.
        if not claims.email_verified:
            raise AuthFailure(
                OidcEmailInUse(), replace(failed, reason="email_unverified", actor_user_id=user.id)
            )
        await _link(
            session,
            user=user,
            provider=provider,
            claims=claims,
            email=email,
            at=now,
            origin=failed.origin,
        )
        return user
    created = await auth_service.create_user_row(
        session,
        email=email,
        password_hash=None,
        first_name=claims.given_name,
        last_name=claims.family_name,
        display_name=claims.name,
        email_verified=claims.email_verified,
        avatar_url=claims.picture,
    )
    if created is None:  # a concurrent sign-up took the email between our read and insert
        raise AuthFailure(OidcEmailInUse(), replace(failed, reason="email_taken_concurrently"))
    tenant_id = await auth_service.join_per_registration_mode(
        session, components=components, user=created, actor_id=str(created.id)
    )
    if tenant_id is not None:  # invite-only: no tenant yet, joining one is the event
        await record_event(
            session,
            UserRegistered(tenant_id=tenant_id, resource_id=created.id, by_admin=False),
            actor_id=str(created.id),
        )
    await _add_identity(session, user=created, provider=provider, claims=claims, at=now)
    await record(
        session,
        AuditRecord(
            action=AuditAction.REGISTER,
            tenant_id=tenant_id,
            actor_user_id=created.id,
            subject=f"user:{created.id}",
            origin=failed.origin,
            details={"method": "oidc", "provider": provider},
        ),
    )
    return created


async def _link(
    session: AsyncSession,
    *,
    user: User,
    provider: str,
    claims: IdTokenClaims,
    email: str,
    at: datetime,
    origin: Origin,
) -> None:
    password_removed = False
    if not user.email_verified:
        # Nobody proved owning this address before the provider did now. A password set on
        # it may belong to someone who registered another person's email in advance (a
        # pre-hijacking attack); linking would let them in, so that password stops working.
        if user.password_hash is not None:
            user.password_hash = None
            password_removed = True
            await repository.revoke_user_refresh_tokens(
                session, user.id, reason="email_verified_by_provider", at=at
            )
            await oidc_repository.revoke_user_browser_sessions(session, user.id, at=at)
        user.email_verified = True
    identity = await _add_identity(session, user=user, provider=provider, claims=claims, at=at)
    await record(
        session,
        AuditRecord(
            action=AuditAction.IDENTITY_LINKED,
            actor_user_id=user.id,
            subject=f"identity:{identity.id}",
            origin=origin,
            details={
                "provider": provider,
                "matched_by": "verified_email",
                "email": email,
                "password_removed": password_removed,
            },
        ),
    )


async def _add_identity(
    session: AsyncSession, *, user: User, provider: str, claims: IdTokenClaims, at: datetime
) -> UserIdentity:
    identity = UserIdentity(
        id=new_id(),
        user_id=user.id,
        provider=provider,
        subject=claims.subject,
        email=claims.email[:320] if claims.email else None,
        email_verified=claims.email_verified,
        last_login_at=at,
    )
    session.add(identity)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        # The same (provider, sub) signed in twice at once and the other request linked it.
        session.expunge(identity)
        raise OidcLoginFailed("This sign-in raced another one; start again") from None
    return identity


# A user's linked identities


async def list_identities(
    session: AsyncSession, *, user: User, after: UUID | None, limit: int
) -> Sequence[UserIdentity]:
    return await oidc_repository.identities_of(session, user.id, after=after, limit=limit)


async def unlink(
    session: AsyncSession,
    *,
    components: IdentityComponents,
    user: User,
    identity_id: UUID,
    origin: Origin,
) -> None:
    """Remove a linked identity, unless it is the user's last way to sign in."""
    # Locked: two concurrent unlinks must not each see the other identity and remove both.
    await repository.lock_user(session, user.id)
    identity = await oidc_repository.get_identity(session, identity_id)
    if identity is None or identity.user_id != user.id:
        raise IdentityNotFound()
    has_password = user.password_hash is not None and components.settings.local_accounts_enabled
    if not has_password and await oidc_repository.count_identities(session, user.id) <= 1:
        raise LastSignInMethod()
    await session.delete(identity)
    await session.flush()
    await record(
        session,
        AuditRecord(
            action=AuditAction.IDENTITY_UNLINKED,
            actor_user_id=user.id,
            subject=f"identity:{identity.id}",
            origin=origin,
            details={"provider": identity.provider},
        ),
    )
