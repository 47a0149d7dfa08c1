"""The media package's event handlers: thumbnails and image facts once an upload is ready."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.events.bus import Envelope
from mosaic.events.consumer import Handler
from mosaic.media.processing import process_uploaded
from mosaic.media.storage import BlobStore


def make_thumbnails(store: BlobStore) -> Handler:
    """The ``MediaUploaded`` handler over ``store``: process the image the event names."""

    async def handle(session: AsyncSession, envelope: Envelope) -> None:
        await process_uploaded(session, store, UUID(envelope.resource_id))

    return handle
