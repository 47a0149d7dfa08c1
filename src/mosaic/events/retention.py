"""How long published outbox rows stay: they are what ``mosaic events replay`` re-delivers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.models import OutboxEvent


async def purge_published(session: AsyncSession, *, older_than: datetime) -> int:
    """Delete outbox rows published before ``older_than``; the number deleted.

    Unpublished rows are never touched, however old: they have not reached the bus yet.
    Runs as the database owner (the application role may only append to the outbox).
    """
    result = await session.execute(
        delete(OutboxEvent).where(
            OutboxEvent.published_at.is_not(None), OutboxEvent.published_at < older_than
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
