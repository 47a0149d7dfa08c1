"""Image processing for the worker, called directly: thumbnail, facts, once, failures kept."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from fastapi import FastAPI
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.core.database import Database, bind_tenant
from mosaic.media.processing import process_uploaded
from mosaic.media.storage import BlobStore
from mosaic.models import Media, OutboxEvent
from tests.media.conftest import MP4_BYTES, Circle, Uploads, jpeg_bytes

Process = Callable[[str], Awaitable[None]]


@asynccontextmanager
async def _tenant_session(app: FastAPI, tenant_id: UUID) -> AsyncIterator[AsyncSession]:
    """A worker's transaction: the application role, bound to the media's tenant."""
    database: Database = app.state.database
    async with database.sessionmaker() as session, session.begin():
        await bind_tenant(session, tenant_id)
        yield session


def _processor(app: FastAPI, circle: Circle) -> Process:
    async def process(media_id: str) -> None:
        async with _tenant_session(app, circle.tenant.id) as session:
            await process_uploaded(session, app.state.blob_store, UUID(media_id))

    return process


async def _row(sessions: async_sessionmaker[AsyncSession], media_id: str) -> Media:
    async with sessions() as session:
        media = await session.get(Media, UUID(media_id))
        assert media is not None
        return media


async def _processed_events(sessions: async_sessionmaker[AsyncSession], media_id: str) -> list[Any]:
    async with sessions() as session:
        rows = await session.execute(
            select(OutboxEvent.payload).where(
                OutboxEvent.resource_id == media_id, OutboxEvent.type == "MediaProcessed"
            )
        )
        return list(rows.scalars())


async def test_an_image_gets_a_thumbnail_and_its_facts_once(
    app: FastAPI,
    uploads: Uploads,
    circle: Circle,
    owner_sessions: async_sessionmaker[AsyncSession],
) -> None:
    ready = await uploads.upload(circle.contributor, circle.legacy_id, jpeg_bytes((1024, 768)))
    process = _processor(app, circle)

    await process(ready["id"])

    media = await _row(owner_sessions, ready["id"])
    assert media.processed_at is not None
    assert media.processing_error is None
    assert (media.width, media.height) == (1024, 768)
    assert media.image_metadata == {
        "format": "jpeg",
        "camera_make": "Fujifilm",
        "camera_model": "X100V",
    }
    assert media.actor_id is None  # written by Mosaic itself
    store: BlobStore = app.state.blob_store
    assert media.thumbnail_key is not None
    thumbnail = Image.open(io.BytesIO(await store.read(media.thumbnail_key)))
    assert (thumbnail.format, thumbnail.size) == ("WEBP", (512, 384))

    await process(ready["id"])  # a redelivery

    again = await _row(owner_sessions, ready["id"])
    assert again.processed_at == media.processed_at
    events = await _processed_events(owner_sessions, ready["id"])
    assert [event["succeeded"] for event in events] == [True]


async def test_the_thumbnail_url_is_shown_and_deleted_with_the_media(
    app: FastAPI, uploads: Uploads, circle: Circle, owner_sessions: Any
) -> None:
    ready = await uploads.upload(circle.contributor, circle.legacy_id, jpeg_bytes())
    await _processor(app, circle)(ready["id"])
    client = uploads.client

    read = await client.get(f"/api/v1/media/{ready['id']}", headers=circle.viewer.headers)
    thumbnail = await client.get(read.json()["thumbnail_url"])
    key = (await _row(owner_sessions, ready["id"])).thumbnail_key
    assert key is not None
    await client.delete(f"/api/v1/media/{ready['id']}", headers=circle.contributor.headers)

    assert read.json()["width"] == 64
    assert thumbnail.status_code == 200
    assert thumbnail.headers["content-type"] == "image/webp"
    store: BlobStore = app.state.blob_store
    assert await store.stat(key) is None


async def test_a_video_is_not_processed(
    app: FastAPI, uploads: Uploads, circle: Circle, owner_sessions: Any
) -> None:
    ready = await uploads.upload(
        circle.contributor,
        circle.legacy_id,
        MP4_BYTES,
        content_type="video/mp4",
        filename="film.mp4",
    )

    await _processor(app, circle)(ready["id"])

    media = await _row(owner_sessions, ready["id"])
    assert media.processed_at is None
    assert media.thumbnail_key is None
    assert await _processed_events(owner_sessions, ready["id"]) == []


async def test_a_corrupt_image_is_recorded_as_failed_not_raised(
    app: FastAPI, uploads: Uploads, circle: Circle, owner_sessions: Any
) -> None:
    # JPEG magic bytes (so registration accepts it), then nothing Pillow can decode.
    corrupt = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
    ready = await uploads.upload(circle.contributor, circle.legacy_id, corrupt)
    process = _processor(app, circle)

    await process(ready["id"])
    await process(ready["id"])

    media = await _row(owner_sessions, ready["id"])
    assert media.processed_at is not None
    assert media.processing_error is not None
    assert media.processing_error.startswith("unreadable image")
    assert media.thumbnail_key is None
    events = await _processed_events(owner_sessions, ready["id"])
    assert [event["succeeded"] for event in events] == [False]
    read = await uploads.client.get(
        f"/api/v1/media/{ready['id']}", headers=circle.contributor.headers
    )
    assert read.json()["processing_error"] == media.processing_error
    assert read.json()["thumbnail_url"] is None


async def test_bytes_changed_after_registration_are_not_processed(
    app: FastAPI, uploads: Uploads, circle: Circle, owner_sessions: Any
) -> None:
    ready = await uploads.upload(circle.contributor, circle.legacy_id, jpeg_bytes())
    store: BlobStore = app.state.blob_store
    await store.put(
        f"{circle.tenant.id}/{ready['id']}/original", jpeg_bytes(camera=None), content_type="x"
    )

    await _processor(app, circle)(ready["id"])

    media = await _row(owner_sessions, ready["id"])
    assert media.processing_error == "the file changed after it was registered"


async def test_a_deleted_or_unknown_media_file_is_ignored(app: FastAPI, circle: Circle) -> None:
    await _processor(app, circle)(str(UUID(int=7)))  # nothing to do, nothing raised
