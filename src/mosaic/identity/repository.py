"""Queries of the identity module."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.authz import ResourceKind, RowColumns, ScopeKind
from mosaic.models import ApiKey, Tenant


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
    statement = select(ApiKey).where(visible).order_by(ApiKey.id).limit(limit)
    if after is not None:
        statement = statement.where(ApiKey.id > after)
    return (await session.execute(statement)).scalars().all()


async def get_key(session: AsyncSession, key_id: UUID) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def get_tenant(session: AsyncSession, tenant_id: UUID) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


async def get_tenant_by_slug(session: AsyncSession, slug: str) -> Tenant | None:
    return (await session.execute(select(Tenant).where(Tenant.slug == slug))).scalar_one_or_none()
