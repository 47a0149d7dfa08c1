"""Image processing for the worker: a thumbnail and the image's facts, once per media file.

Called by the consumer of ``MediaUploaded`` (at least once delivery), so it is idempotent: a
file already processed — successfully or not — is left alone. An image Pillow cannot read is
recorded as failed rather than raised, since retrying would fail the same way forever.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.provenance import Provenance
from mosaic.events import record
from mosaic.media import repository
from mosaic.media.events import MediaProcessed
from mosaic.media.service import thumbnail_key
from mosaic.media.storage import BlobStore
from mosaic.media.thumbnails import THUMBNAIL_CONTENT_TYPE, UnreadableImage, process_image
from mosaic.media.upload_rules import is_image
from mosaic.models import Media, MediaState

logger = structlog.get_logger(__name__)

_MAX_ERROR_CHARS = 200


async def process_uploaded(session: AsyncSession, store: BlobStore, media_id: UUID) -> None:
    """Make the thumbnail of a ready image and store its facts (never commits)."""
    media = await repository.get(session, media_id, for_update=True)
    if media is None or media.state is not MediaState.READY or media.processed_at is not None:
        return  # deleted since, not yet registered, or done already
    if not is_image(media.content_type):
        return  # videos get no thumbnail (yet)
    try:
        data = await store.read(media.storage_key)
    except FileNotFoundError:
        await _failed(session, media, "the uploaded file is missing")
        return
    if hashlib.sha256(data).hexdigest() != media.sha256:
        # The bytes changed after they were checked (a presigned URL used twice).
        await _failed(session, media, "the file changed after it was registered")
        return
    try:
        thumbnail, facts = await asyncio.to_thread(process_image, data)
    except UnreadableImage as error:
        await _failed(session, media, f"unreadable image: {error}")
        return
    key = thumbnail_key(media.tenant_id, media.id)
    await store.put(key, thumbnail.data, content_type=THUMBNAIL_CONTENT_TYPE)
    media.thumbnail_key = key
    media.width = facts.width
    media.height = facts.height
    media.image_metadata = {"format": facts.format, **facts.metadata}
    await _done(session, media, error=None)


async def _failed(session: AsyncSession, media: Media, reason: str) -> None:
    logger.warning("media_processing_failed", media_id=str(media.id), reason=reason)
    await _done(session, media, error=reason[:_MAX_ERROR_CHARS])


async def _done(session: AsyncSession, media: Media, *, error: str | None) -> None:
    media.processed_at = datetime.now(UTC)
    media.processing_error = error
    for column, value in Provenance.system().columns().items():
        setattr(media, column, value)
    await session.flush()
    await record(
        session,
        MediaProcessed(
            tenant_id=media.tenant_id,
            resource_id=media.id,
            legacy_id=media.legacy_id,
            owner_id=media.owner_id,
            succeeded=error is None,
            error=error,
        ),
        actor_id=None,
    )
