"""Users: the current user's profile, and platform administration of every account."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.errors import ValidationFailed
from mosaic.core.principal import Principal, PrincipalKind
from mosaic.events import record as record_event
from mosaic.identity import oidc_repository, repository
from mosaic.identity.audit import AuditAction, AuditRecord, Origin, record
from mosaic.identity.auth_service import create_user_row, join_per_registration_mode
from mosaic.identity.components import IdentityComponents
from mosaic.identity.errors import (
    CannotChangeOwnAccount,
    EmailTaken,
    NotAUser,
    PlatformAdminRequired,
    UserNotFound,
)
from mosaic.identity.events import UserRegistered, UserUpdated, actor_of
from mosaic.identity.passwords import PasswordPolicyViolation
from mosaic.identity.schemas import ProfileUpdate, UserAdminUpdate, UserCreate
from mosaic.models import PlatformRole, User, UserStatus

logger = structlog.get_logger(__name__)


def require_platform_admin(principal: Principal) -> None:
    """Only a user signed in with a token (not an API key) whose platform role is admin."""
    if principal.kind is not PrincipalKind.USER or principal.platform_role != PlatformRole.ADMIN:
        logger.info("access_denied", reason="not_platform_admin", principal=principal.key)
        raise PlatformAdminRequired()


async def get_user(session: AsyncSession, *, user_id: UUID) -> User:
    user = await repository.get_user(session, user_id)
    if user is None:
        raise UserNotFound()
    return user


async def current_user(session: AsyncSession, *, principal: Principal) -> User:
    """The user a principal acts for (a user's API key acts for that user)."""
    if principal.user_id is None:
        raise NotAUser()
    user = await repository.get_user(session, principal.user_id)
    if user is None or user.status is not UserStatus.ACTIVE:
        raise NotAUser()
    return user


async def update_profile(
    session: AsyncSession, *, user: User, data: ProfileUpdate, tenant_id: UUID
) -> User:
    """Change a user's own name, display name or avatar; ``tenant_id`` is the one the request
    is bound to, where the event is recorded."""
    changed = _apply_profile(user, data)
    await session.flush()
    await session.refresh(user)
    if changed:
        await record_event(
            session,
            UserUpdated(tenant_id=tenant_id, resource_id=user.id, changed=changed),
            actor_id=str(user.id),
        )
    return user


def _apply_profile(user: User, data: ProfileUpdate) -> list[str]:
    """Set the profile fields ``data`` carries; the names of those whose value changed."""
    changes = data.model_dump(exclude_unset=True)
    changed: list[str] = []
    for name in ("first_name", "last_name", "display_name", "avatar_url"):
        if name in changes:
            value = changes[name]
            if name == "display_name" and value is None:
                raise ValidationFailed("display_name cannot be empty")
            new = str(value) if value is not None else None
            if getattr(user, name) != new:
                changed.append(name)
            setattr(user, name, new)
    return changed


async def list_users(
    session: AsyncSession, *, after: UUID | None, limit: int, search: str | None
) -> Sequence[User]:
    return await repository.list_users(session, after=after, limit=limit, search=search)


async def create_user(
    session: AsyncSession,
    *,
    components: IdentityComponents,
    data: UserCreate,
    actor: Principal,
    origin: Origin,
) -> User:
    """Create an account as a platform admin; it joins tenants as registration would."""
    password_hash = None
    if data.password is not None:
        try:
            components.passwords.check_policy(data.password, email=data.email)
        except PasswordPolicyViolation as exc:
            raise ValidationFailed(
                details=[
                    {"loc": ["body", "password"], "message": str(exc), "type": "password_policy"}
                ]
            ) from None
        password_hash = await components.passwords.hash(data.password)
    user = await create_user_row(
        session,
        email=data.email,
        password_hash=password_hash,
        first_name=data.first_name,
        last_name=data.last_name,
        display_name=data.display_name,
        role=data.role,
        status=data.status,
    )
    if user is None:
        # An admin may learn that an email has an account; anonymous callers may not.
        raise EmailTaken(details={"email": data.email})
    tenant_id = await join_per_registration_mode(
        session, components=components, user=user, actor_id=actor_of(actor), via="admin"
    )
    await record_event(
        session,
        UserRegistered(tenant_id=tenant_id or actor.tenant_id, resource_id=user.id, by_admin=True),
        actor_id=actor_of(actor),
    )
    await record(
        session,
        AuditRecord(
            action=AuditAction.REGISTER,
            tenant_id=tenant_id,
            actor_user_id=actor.user_id,
            actor=actor.key,
            subject=f"user:{user.id}",
            origin=origin,
            details={"created_by_admin": True, "role": user.role.value},
        ),
    )
    return user


async def update_user(
    session: AsyncSession,
    *,
    components: IdentityComponents,
    user_id: UUID,
    data: UserAdminUpdate,
    actor: Principal,
    origin: Origin,
) -> User:
    """Change any account; role changes and disabling are audited, disabling signs out."""
    user = await repository.lock_user(session, user_id)
    if user is None:
        raise UserNotFound()
    changes = data.model_dump(exclude_unset=True)
    role, status = changes.pop("role", None), changes.pop("status", None)
    if user.id == actor.user_id and (
        (role is not None and role != user.role) or (status is not None and status != user.status)
    ):
        raise CannotChangeOwnAccount()
    changed = _apply_profile(user, ProfileUpdate(**changes))
    audit = AuditRecord(
        action=AuditAction.ROLE_CHANGED,
        actor_user_id=actor.user_id,
        actor=actor.key,
        subject=f"user:{user.id}",
        origin=origin,
    )
    if role is not None and role != user.role:
        previous, user.role = user.role, PlatformRole(role)
        changed.append("role")
        await record(session, replace(audit, details={"from": previous.value, "to": role}))
    if status is not None and status != user.status:
        user.status = UserStatus(status)
        changed.append("status")
        disabled = user.status is UserStatus.DISABLED
        revoked = sessions_revoked = 0
        if disabled:
            now = datetime.now(UTC)
            revoked = await repository.revoke_user_refresh_tokens(
                session, user.id, reason="account_disabled", at=now
            )
            sessions_revoked = await oidc_repository.revoke_user_browser_sessions(
                session, user.id, at=now
            )
        action = AuditAction.ACCOUNT_DISABLED if disabled else AuditAction.ACCOUNT_ENABLED
        details = {"refresh_tokens_revoked": revoked, "browser_sessions_revoked": sessions_revoked}
        await record(session, replace(audit, action=action, details=details))
    await session.flush()
    await session.refresh(user)
    if changed:
        await record_event(
            session,
            UserUpdated(tenant_id=actor.tenant_id, resource_id=user.id, changed=changed),
            actor_id=actor_of(actor),
        )
    components.access_cache.forget(user.id)
    return user
