"""Scheduled work of the media module."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.media import repository
from mosaic.media.service import blob_keys
from mosaic.media.storage import BlobStore

logger = structlog.get_logger(__name__)

# An upload may finish just before its URL expires and be registered just after.
REGISTRATION_GRACE = timedelta(hours=1)
_BATCH = 500


async def purge_expired_uploads(
    session: AsyncSession,
    store: BlobStore,
    now: datetime,
    *,
    grace: timedelta = REGISTRATION_GRACE,
    limit: int = _BATCH,
) -> int:
    """Delete pending uploads never registered (rows and any bytes that did arrive), so they
    stop counting against their owner's quota; returns how many went. Never commits.

    The session must see every tenant the scheduler cleans (the owner's connection, or one
    bound per tenant). Blobs are deleted before the commit: if it fails, the rows stay and the
    next run deletes the (already absent) blobs again, which is harmless.
    """
    expired = await repository.expired_uploads(session, before=now - grace, limit=limit)
    for media in expired:
        for key in blob_keys(media):
            await store.delete(key)
        await session.delete(media)
    await session.flush()
    if expired:
        logger.info("media_expired_uploads_purged", count=len(expired))
    return len(expired)
