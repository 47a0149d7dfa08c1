"""Queries of the media module."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.authz import ResourceKind, RowColumns, ScopeKind
from mosaic.core.pagination import inline_limit
from mosaic.models import Media, MediaState

MEDIA_ROWS = RowColumns(
    kind=ResourceKind.MEDIA,
    scopes={ScopeKind.TENANT: Media.tenant_id, ScopeKind.LEGACY: Media.legacy_id},
    owner=Media.owner_id,
)


def shown_to(user_id: UUID | None) -> ColumnElement[bool]:
    """Ready media, and the user's own pending uploads: nobody else sees a pending file."""
    ready = Media.state == MediaState.READY
    return ready if user_id is None else ready | (Media.owner_id == user_id)


async def get(session: AsyncSession, media_id: UUID, *, for_update: bool = False) -> Media | None:
    """The media row in the bound tenant (row-level security hides the others)."""
    statement = select(Media).where(Media.id == media_id)
    if for_update:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def list_visible(
    session: AsyncSession,
    *,
    visible: ColumnElement[bool],
    legacy_id: UUID | None,
    after: UUID | None,
    limit: int,
) -> Sequence[Media]:
    """Media passing ``visible`` (the policy's filter and ``shown_to``), in id order."""
    statement = select(Media).where(visible).order_by(Media.id).limit(inline_limit(limit))
    if legacy_id is not None:
        statement = statement.where(Media.legacy_id == legacy_id)
    if after is not None:
        statement = statement.where(Media.id > after)
    return (await session.execute(statement)).scalars().all()


async def lock_quota(session: AsyncSession, owner_id: UUID) -> None:
    """Serialise one user's uploads until commit, so two at once cannot both slip under the
    quota."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:lock, 0))"),
        {"lock": f"media-quota:{owner_id}"},
    )


async def bytes_used(session: AsyncSession, owner_id: UUID) -> int:
    """What the user's media take, ready and pending alike."""
    total = await session.scalar(
        select(func.coalesce(func.sum(Media.size_bytes), 0)).where(Media.owner_id == owner_id)
    )
    return int(total or 0)


async def expired_uploads(
    session: AsyncSession, *, before: datetime, limit: int
) -> Sequence[Media]:
    """Pending uploads whose URL expired before ``before``, oldest first."""
    statement = (
        select(Media)
        .where(Media.state == MediaState.PENDING, Media.upload_expires_at <= before)
        .order_by(Media.upload_expires_at)
        .limit(inline_limit(limit))
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(statement)).scalars().all()
