"""Local accounts: registration, login, refresh-token rotation, logout, and access tokens.

Services take the session first and the rest by keyword; they never commit. A failure that
must leave a trace although the request's transaction rolls back (a wrong password, a replayed
refresh token) is raised as ``AuthFailure``; the route settles it with ``settle_failure``,
which writes the audit record (and revokes a replayed token's family) in a transaction of its
own, then raises the error the client sees.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import NoReturn
from uuid import UUID

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.core.errors import MosaicError, RateLimited, ValidationFailed
from mosaic.core.ids import new_id
from mosaic.core.principal import Credential, Principal, PrincipalKind
from mosaic.core.settings import RegistrationMode
from mosaic.events import record as record_event
from mosaic.identity import access_tokens, membership_service, repository
from mosaic.identity.audit import AuditAction, AuditRecord, Origin, record
from mosaic.identity.components import IdentityComponents
from mosaic.identity.errors import (
    AlreadyMember,
    InvalidCredentials,
    InvitationGone,
    InvitationNotFound,
    NoTenantAccess,
    RegistrationUnavailable,
)
from mosaic.identity.events import TenantMemberJoined, UserRegistered
from mosaic.identity.passwords import PasswordPolicyViolation
from mosaic.identity.repository import Membership, UserAccess
from mosaic.identity.schemas import RegisterRequest, normalise_email
from mosaic.models import (
    MembershipState,
    PlatformRole,
    RefreshToken,
    ScopeRole,
    User,
    UserStatus,
)

logger = structlog.get_logger(__name__)

REFRESH_TOKEN_BYTES = 32  # 256 bits
_WRONG_CREDENTIALS = "The email or password is incorrect"


class AuthFailure(Exception):
    """A failed authentication: what to audit, and the error the client gets."""

    def __init__(
        self,
        error: MosaicError,
        entry: AuditRecord,
        *,
        revoke_family: UUID | None = None,
        keep_changes: bool = False,
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.entry = entry
        self.revoke_family = revoke_family
        # Commit what the request did before failing (an account made by a sign-in that
        # then finds no tenant to enter) instead of rolling it back.
        self.keep_changes = keep_changes


@dataclass(frozen=True)
class IssuedTokens:
    """A new access token and refresh token for one user in one tenant."""

    user: User
    tenant_id: UUID
    access_token: str
    expires_in: int
    refresh_token: str


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def settle_failure(
    request_session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    failure: AuthFailure,
) -> NoReturn:
    """Record a failure (and revoke a replayed family) independently; raise its error.

    The request's transaction is rolled back first (committed, if the failure keeps its
    changes): it may hold the lock on the replayed token's row, which the revocation needs.
    """
    if failure.keep_changes:
        await request_session.commit()
    else:
        await request_session.rollback()
    async with sessionmaker() as session, session.begin():
        if failure.revoke_family is not None:
            await repository.revoke_refresh_family(
                session, failure.revoke_family, reason="reuse_detected", at=datetime.now(UTC)
            )
        session.add(failure.entry.to_row())
    logger.info(
        "audit",
        action=failure.entry.action.value,
        outcome=failure.entry.outcome,
        reason=failure.entry.reason,
    )
    raise failure.error from None


# Registration


async def register(
    session: AsyncSession,
    *,
    components: IdentityComponents,
    data: RegisterRequest,
    origin: Origin,
) -> User | None:
    """Create an account; ``None`` if the email was taken (the caller answers alike)."""
    try:
        components.passwords.check_policy(data.password, email=data.email)
    except PasswordPolicyViolation as exc:
        raise ValidationFailed(
            details=[{"loc": ["body", "password"], "message": str(exc), "type": "password_policy"}]
        ) from None
    # Hashed before looking the email up, so a taken email answers just as slowly.
    password_hash = await components.passwords.hash(data.password)
    entry = AuditRecord(action=AuditAction.REGISTER, subject=f"email:{data.email}", origin=origin)
    user = await create_user_row(
        session,
        email=data.email,
        password_hash=password_hash,
        first_name=data.first_name,
        last_name=data.last_name,
        display_name=data.display_name,
    )
    if user is None:
        await record(session, replace(entry, outcome="ignored", reason="email_taken"))
        return None
    tenant_id = await _join_by_invitation(
        session, user=user, token=data.invitation_token, origin=origin
    )
    if tenant_id is None:
        tenant_id = await join_per_registration_mode(
            session, components=components, user=user, actor_id=str(user.id)
        )
    await record(session, replace(entry, actor_user_id=user.id, tenant_id=tenant_id))
    if tenant_id is not None:  # invite-only: no tenant yet, joining one is the event
        await record_event(
            session,
            UserRegistered(tenant_id=tenant_id, resource_id=user.id, by_admin=False),
            actor_id=str(user.id),
        )
    return user


async def _join_by_invitation(
    session: AsyncSession, *, user: User, token: str | None, origin: Origin
) -> UUID | None:
    """The tenant a valid invitation token made a new user join; ``None`` for no or a bad one."""
    if token is None:
        return None
    try:
        joined = await membership_service.accept_invitation_token(
            session, user_id=user.id, token=token, origin=origin
        )
    except (InvitationNotFound, InvitationGone, AlreadyMember) as exc:
        # Registration answers alike whatever happens, so a bad token only means the mode's
        # default membership; the log, not the client, says why.
        logger.info("registration_invitation_refused", reason=exc.code)
        return None
    return joined.tenant_id


async def create_user_row(
    session: AsyncSession,
    *,
    email: str,
    password_hash: str | None,
    first_name: str,
    last_name: str,
    display_name: str | None,
    **extra: object,
) -> User | None:
    """Insert a user; ``None`` if the email is taken (also when a concurrent insert won)."""
    if await repository.get_user_by_email(session, email) is not None:
        return None
    user = User(
        id=new_id(),
        email=email,
        password_hash=password_hash,
        first_name=first_name,
        last_name=last_name,
        display_name=display_name or " ".join(filter(None, [first_name, last_name])) or email,
        **extra,
    )
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        session.expunge(user)
        return None
    await session.refresh(user)
    return user


async def join_per_registration_mode(
    session: AsyncSession,
    *,
    components: IdentityComponents,
    user: User,
    actor_id: str,
    via: str = "registration",
) -> UUID | None:
    """Give a new user the membership the registration mode says; the tenant joined, if any."""
    mode = components.settings.registration_mode
    if mode is RegistrationMode.INVITE_ONLY:
        return None
    if mode is RegistrationMode.OWN_TENANT:
        tenant_id = new_id()
        await repository.create_own_tenant(
            session,
            user_id=user.id,
            tenant_id=tenant_id,
            slug=f"u-{user.id.hex[-12:]}",
            name=user.display_name[:200],
        )
        role = ScopeRole.OWNER
    else:
        joined = await repository.join_registration_tenant(
            session, user.id, components.settings.registration_tenant
        )
        if joined is None:
            slug = components.settings.registration_tenant
            logger.error("registration_tenant_missing", slug=slug)
            raise RegistrationUnavailable()
        tenant_id, role = joined, ScopeRole.CONTRIBUTOR
    await record_event(
        session,
        TenantMemberJoined(tenant_id=tenant_id, resource_id=user.id, role=role, via=via),
        actor_id=actor_id,
    )
    return tenant_id


# Login


async def login(
    session: AsyncSession,
    *,
    components: IdentityComponents,
    email: str,
    password: str,
    tenant: str | None,
    origin: Origin,
    invitation_token: str | None = None,
) -> IssuedTokens:
    """Tokens for a correct email and password; one generic error for every wrong one."""
    email = normalise_email(email)
    ip = origin.ip_address or "unknown"
    failed = AuditRecord(
        action=AuditAction.LOGIN_FAILED,
        outcome="failure",
        subject=f"email:{email}"[:255],
        origin=origin,
    )
    throttle = components.throttle
    retry_after = await throttle.retry_after(email=email, ip=ip)
    if retry_after is not None:
        error = RateLimited("Too many failed logins; retry later", retry_after=retry_after)
        raise AuthFailure(error, replace(failed, reason="throttled"))
    user = await repository.get_user_by_email(session, email)
    # With no account (or no password) the dummy hash is verified instead: same time spent.
    check = await components.passwords.verify(user.password_hash if user else None, password)
    reason = None
    if user is None:
        reason = "unknown_email"
    elif not check.matches:
        reason = "wrong_password" if user.password_hash else "no_local_password"
    elif user.status is not UserStatus.ACTIVE:
        reason = "account_disabled"
    if reason is not None or user is None:
        await throttle.record_failure(email=email, ip=ip)
        actor = user.id if user is not None else None
        raise AuthFailure(
            InvalidCredentials(_WRONG_CREDENTIALS),
            replace(failed, reason=reason, actor_user_id=actor),
        )
    await throttle.record_success(email=email)
    if invitation_token is not None:
        # Only now, with the password checked: the invitation's errors tell nothing to
        # someone who does not hold the account.
        try:
            joined = await membership_service.accept_invitation_token(
                session, user_id=user.id, token=invitation_token, origin=origin
            )
        except (InvitationNotFound, InvitationGone, AlreadyMember) as exc:
            entry = replace(failed, reason=exc.code.lower(), actor_user_id=user.id)
            raise AuthFailure(exc, entry) from None
        tenant = str(joined.tenant_id)
    membership = await choose_membership(session, user=user, requested=tenant)
    if membership is None:
        raise AuthFailure(
            NoTenantAccess(),
            replace(failed, reason="no_membership", actor_user_id=user.id),
        )
    if check.needs_rehash:
        user.password_hash = await components.passwords.hash(password)
        logger.info("password_rehashed", user_id=str(user.id))
    user.last_login_at = datetime.now(UTC)
    await session.flush()
    await session.refresh(user)  # updated_at is set by the database
    issued = await _issue(
        session, components=components, user=user, tenant_id=membership.tenant_id, origin=origin
    )
    await record(
        session,
        AuditRecord(
            action=AuditAction.LOGIN,
            tenant_id=membership.tenant_id,
            actor_user_id=user.id,
            subject=f"user:{user.id}",
            origin=origin,
            details={"method": "password"},
        ),
    )
    return issued


async def choose_membership(
    session: AsyncSession, *, user: User, requested: str | None
) -> Membership | None:
    """The requested tenant (slug or id) if the user is an active member; else the first."""
    active = [
        membership
        for membership in await repository.memberships_of(session, user.id)
        if membership.state is MembershipState.ACTIVE
    ]
    if requested is None:
        return active[0] if active else None
    tenant_id = _as_uuid(requested) or await repository.tenant_id_by_slug(session, requested)
    return next((m for m in active if m.tenant_id == tenant_id), None)


def _as_uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


async def _issue(
    session: AsyncSession,
    *,
    components: IdentityComponents,
    user: User,
    tenant_id: UUID,
    origin: Origin,
    family_id: UUID | None = None,
) -> IssuedTokens:
    access = await access_tokens.issue(
        session,
        keys=components.keys,
        settings=components.settings,
        user_id=user.id,
        tenant_id=tenant_id,
        role=user.role.value,
    )
    refresh = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
    now = datetime.now(UTC)
    session.add(
        RefreshToken(
            id=new_id(),
            family_id=family_id or new_id(),
            user_id=user.id,
            tenant_id=tenant_id,
            token_hash=hash_refresh_token(refresh),
            created_at=now,
            expires_at=now + timedelta(days=components.settings.refresh_token_ttl_days),
            ip_address=origin.ip_address,
            user_agent=origin.user_agent,
        )
    )
    await session.flush()
    return IssuedTokens(
        user=user,
        tenant_id=tenant_id,
        access_token=access.token,
        expires_in=access.expires_in,
        refresh_token=refresh,
    )


# Refresh and logout


async def refresh(
    session: AsyncSession,
    *,
    components: IdentityComponents,
    refresh_token: str,
    tenant: str | None,
    origin: Origin,
) -> IssuedTokens:
    """Spend a refresh token for a new pair (same family); a spent one revokes the family."""
    failed = AuditRecord(action=AuditAction.TOKEN_REFRESHED, outcome="failure", origin=origin)
    found = await repository.find_refresh_token_for_update(
        session, hash_refresh_token(refresh_token)
    )
    now = datetime.now(UTC)
    if found is None:
        raise AuthFailure(InvalidCredentials(), replace(failed, reason="unknown_token"))
    failed = replace(failed, actor_user_id=found.user_id, subject=f"family:{found.family_id}")
    if found.used_at is not None:
        reused = AuditRecord(
            action=AuditAction.REFRESH_TOKEN_REUSED,
            outcome="failure",
            tenant_id=found.tenant_id,
            actor_user_id=found.user_id,
            subject=f"family:{found.family_id}",
            reason="reuse_detected",
            origin=origin,
        )
        raise AuthFailure(InvalidCredentials(), reused, revoke_family=found.family_id)
    if found.revoked_at is not None:
        raise AuthFailure(InvalidCredentials(), replace(failed, reason="revoked"))
    if found.expires_at <= now:
        raise AuthFailure(InvalidCredentials(), replace(failed, reason="expired"))
    user = await repository.get_user(session, found.user_id)
    if user is None or user.status is not UserStatus.ACTIVE:
        raise AuthFailure(InvalidCredentials(), replace(failed, reason="account_disabled"))
    membership = await choose_membership(
        session, user=user, requested=tenant or str(found.tenant_id)
    )
    if membership is None:
        raise AuthFailure(NoTenantAccess(), replace(failed, reason="no_membership"))
    found.used_at = now
    await session.flush()
    return await _issue(
        session,
        components=components,
        user=user,
        tenant_id=membership.tenant_id,
        origin=origin,
        family_id=found.family_id,
    )


async def logout(session: AsyncSession, *, refresh_token: str, origin: Origin) -> None:
    """Revoke the presented token's whole family; an unknown token changes nothing."""
    found = await repository.find_refresh_token_for_update(
        session, hash_refresh_token(refresh_token)
    )
    if found is None or found.revoked_at is not None:
        return
    await repository.revoke_refresh_family(
        session, found.family_id, reason="logout", at=datetime.now(UTC)
    )
    await record(
        session,
        AuditRecord(
            action=AuditAction.LOGOUT,
            tenant_id=found.tenant_id,
            actor_user_id=found.user_id,
            subject=f"family:{found.family_id}",
            origin=origin,
        ),
    )


# Access tokens


_CAN_AUTHENTICATE = frozenset({MembershipState.ACTIVE, MembershipState.PENDING})


async def may_authenticate(
    session: AsyncSession, *, components: IdentityComponents, user_id: UUID, tenant_id: UUID
) -> UserAccess:
    """The user's access if they are active and an active member of the tenant; else 401."""
    access = await components.access_cache.get(session, user_id, tenant_id)
    if access is None or access.status is not UserStatus.ACTIVE:
        logger.info("authentication_failed", reason="user_inactive")
        raise InvalidCredentials()
    # Platform administrators act in any tenant; the policy decides what they may do there.
    # A pending member authenticates but the policy treats them as a non-member (they can see
    # their own request and accept an invitation); a suspended or removed one does not.
    if access.role != PlatformRole.ADMIN and access.membership_state not in _CAN_AUTHENTICATE:
        logger.info("authentication_failed", reason="not_a_member")
        raise InvalidCredentials()
    return access


async def check_key_owner(
    session: AsyncSession, *, components: IdentityComponents, principal: Principal
) -> None:
    """A user's API key works only while its user is active and a member of its tenant."""
    if principal.user_id is not None:
        await may_authenticate(
            session,
            components=components,
            user_id=principal.user_id,
            tenant_id=principal.tenant_id,
        )


async def authenticate_access_token(
    session: AsyncSession, *, components: IdentityComponents, token: str
) -> Principal:
    """The principal of a valid access token whose user is active and still a member."""
    claims = await access_tokens.verify(
        session, token, keys=components.keys, settings=components.settings
    )
    access = await may_authenticate(
        session, components=components, user_id=claims.user_id, tenant_id=claims.tenant_id
    )
    return Principal(
        kind=PrincipalKind.USER,
        subject_id=claims.user_id,
        tenant_id=claims.tenant_id,
        credential=Credential.ACCESS_TOKEN,
        user_id=claims.user_id,
        # The current role, not the token's: a demotion takes effect without waiting for expiry.
        platform_role=access.role,
    )
