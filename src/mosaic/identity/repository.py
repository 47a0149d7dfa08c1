"""Queries of the identity module."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.authz import ResourceKind, RowColumns, ScopeKind
from mosaic.core.pagination import inline_limit
from mosaic.models import (
    ApiKey,
    MembershipState,
    RefreshToken,
    ScopeRole,
    SigningKey,
    Tenant,
    User,
    UserStatus,
)


@dataclass(frozen=True)
class KeyVerification:
    """What authentication needs to know about a key, read before any tenant is bound."""

    id: UUID
    tenant_id: UUID
    secret_hash: str
    scopes: list[str]
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_by: UUID | None


async def find_key_for_verification(session: AsyncSession, prefix: str) -> KeyVerification | None:
    """Look a key up by its public prefix through the narrow security-definer function."""
    row = (
        await session.execute(
            text("SELECT * FROM mosaic_find_api_key(:prefix)"), {"prefix": prefix}
        )
    ).one_or_none()
    return KeyVerification(**row._mapping) if row is not None else None


async def touch_key(session: AsyncSession, key_id: UUID, at: datetime) -> None:
    """Stamp ``last_used_at``, unless another transaction holds the row.

    SKIP LOCKED: concurrent requests with one key would otherwise queue on its row lock for
    their whole transaction; whoever holds the lock is stamping the same thing.
    """
    unlocked = (
        select(ApiKey.id)
        .where(ApiKey.id == key_id)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    await session.execute(update(ApiKey).where(ApiKey.id == unlocked).values(last_used_at=at))


# How the policy finds an API key's scope chain and owner in its table.
API_KEY_ROWS = RowColumns(
    kind=ResourceKind.API_KEY,
    scopes={ScopeKind.TENANT: ApiKey.tenant_id},
    owner=ApiKey.created_by,
)


async def list_keys(
    session: AsyncSession, *, visible: ColumnElement[bool], after: UUID | None, limit: int
) -> Sequence[ApiKey]:
    """Keys of the bound tenant that pass ``visible`` (the policy's filter), in id order."""
    statement = select(ApiKey).where(visible).order_by(ApiKey.id).limit(inline_limit(limit))
    if after is not None:
        statement = statement.where(ApiKey.id > after)
    return (await session.execute(statement)).scalars().all()


async def get_key(session: AsyncSession, key_id: UUID) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def get_tenant(session: AsyncSession, tenant_id: UUID) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


async def get_tenant_by_slug(session: AsyncSession, slug: str) -> Tenant | None:
    return (await session.execute(select(Tenant).where(Tenant.slug == slug))).scalar_one_or_none()


# Users and memberships


@dataclass(frozen=True)
class Membership:
    """A user's membership of one tenant, as the security-definer lookup returns it."""

    tenant_id: UUID
    role: ScopeRole
    state: MembershipState


@dataclass(frozen=True)
class UserAccess:
    """What authenticating an access token re-checks: the account, and its membership."""

    status: UserStatus
    role: str
    email: str
    membership_role: ScopeRole | None
    membership_state: MembershipState | None


async def get_user(session: AsyncSession, user_id: UUID) -> User | None:
    return await session.get(User, user_id)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()


async def lock_user(session: AsyncSession, user_id: UUID) -> User | None:
    statement = select(User).where(User.id == user_id).with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def list_users(
    session: AsyncSession, *, after: UUID | None, limit: int, search: str | None = None
) -> Sequence[User]:
    """Users in id order (users are global: this is a platform-admin query)."""
    statement = select(User).order_by(User.id).limit(inline_limit(limit))
    if after is not None:
        statement = statement.where(User.id > after)
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(
            or_(User.email.ilike(pattern), User.display_name.ilike(pattern))
        )
    return (await session.execute(statement)).scalars().all()


async def memberships_of(session: AsyncSession, user_id: UUID) -> list[Membership]:
    """Every tenant membership of a user, oldest first, across tenants (definer function)."""
    rows = await session.execute(
        text("SELECT tenant_id, role, state FROM mosaic_user_memberships(:member)"),
        {"member": user_id},
    )
    return [
        Membership(
            tenant_id=row.tenant_id, role=ScopeRole(row.role), state=MembershipState(row.state)
        )
        for row in rows
    ]


async def user_access(session: AsyncSession, user_id: UUID, tenant_id: UUID) -> UserAccess | None:
    """A user's status, role, email and membership of ``tenant_id``, in one round trip."""
    row = (
        await session.execute(
            text(
                "SELECT u.status, u.role, u.email, "
                "m.role AS membership_role, m.state AS membership_state "
                "FROM users u LEFT JOIN mosaic_user_memberships(u.id) m ON m.tenant_id = :tenant "
                "WHERE u.id = :user"
            ),
            {"user": user_id, "tenant": tenant_id},
        )
    ).one_or_none()
    if row is None:
        return None
    return UserAccess(
        status=UserStatus(row.status),
        role=row.role,
        email=row.email,
        membership_role=ScopeRole(row.membership_role) if row.membership_role else None,
        membership_state=MembershipState(row.membership_state) if row.membership_state else None,
    )


async def tenant_id_by_slug(session: AsyncSession, slug: str) -> UUID | None:
    result: UUID | None = (
        await session.execute(text("SELECT mosaic_tenant_id(:slug)"), {"slug": slug})
    ).scalar_one()
    return result


async def join_registration_tenant(session: AsyncSession, user_id: UUID, slug: str) -> UUID | None:
    """Make a user without memberships a contributor of tenant ``slug`` (definer function)."""
    result: UUID | None = (
        await session.execute(
            text("SELECT mosaic_join_registration_tenant(:member, :slug)"),
            {"member": user_id, "slug": slug},
        )
    ).scalar_one()
    return result


async def create_own_tenant(
    session: AsyncSession, *, user_id: UUID, tenant_id: UUID, slug: str, name: str
) -> None:
    """Create a tenant owned by a user without memberships (definer function)."""
    await session.execute(
        text("SELECT mosaic_create_own_tenant(:member, :tenant, :slug, :name)"),
        {"member": user_id, "tenant": tenant_id, "slug": slug, "name": name},
    )


# Refresh tokens


async def find_refresh_token_for_update(
    session: AsyncSession, token_hash: str
) -> RefreshToken | None:
    """The token with this hash, locked: two refreshes with one token run one after the other."""
    statement = select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def revoke_refresh_family(
    session: AsyncSession, family_id: UUID, *, reason: str, at: datetime
) -> int:
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=at, revoked_reason=reason)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def revoke_user_refresh_tokens(
    session: AsyncSession, user_id: UUID, *, reason: str, at: datetime
) -> int:
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=at, revoked_reason=reason)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# Signing keys


async def lock_signing_keys(session: AsyncSession) -> None:
    """Serialise key creation and rotation across processes (until the transaction ends)."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("mosaic.signing_keys"))))


async def has_active_signing_key(session: AsyncSession) -> bool:
    statement = select(SigningKey.kid).where(SigningKey.retired_at.is_(None)).limit(1)
    return (await session.execute(statement)).first() is not None


async def usable_signing_keys(session: AsyncSession, *, since: datetime) -> Sequence[SigningKey]:
    """Keys that sign or still verify, newest first."""
    statement = (
        select(SigningKey)
        .where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > since))
        .order_by(SigningKey.created_at.desc(), SigningKey.kid.desc())
    )
    return (await session.execute(statement)).scalars().all()


async def retire_signing_keys(session: AsyncSession, *, at: datetime) -> None:
    await session.execute(
        update(SigningKey).where(SigningKey.retired_at.is_(None)).values(retired_at=at)
    )


async def delete_signing_keys_retired_before(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(
        delete(SigningKey).where(SigningKey.retired_at.is_not(None), SigningKey.retired_at < before)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
