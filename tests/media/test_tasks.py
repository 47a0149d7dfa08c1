"""Purging uploads that were never registered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.media.storage.local import LocalBlobStore
from mosaic.media.tasks import REGISTRATION_GRACE, purge_expired_uploads
from mosaic.models import Media
from tests.media.conftest import Circle, Uploads, jpeg_bytes


async def test_expired_pending_uploads_go_with_their_bytes_and_ready_ones_stay(
    app: FastAPI,
    uploads: Uploads,
    circle: Circle,
    owner_sessions: async_sessionmaker[AsyncSession],
) -> None:
    store: LocalBlobStore = app.state.blob_store
    data = jpeg_bytes()
    ready = await uploads.upload(circle.contributor, circle.legacy_id, data)
    sent = await uploads.presign(circle.contributor, circle.legacy_id, size=len(data))
    await uploads.send(sent.json()["upload"], data)
    never_sent = await uploads.presign(circle.contributor, circle.legacy_id, size=len(data))
    expired_ids = [sent.json()["media"]["id"], never_sent.json()["media"]["id"]]
    expires_at = datetime.fromisoformat(sent.json()["upload"]["expires_at"])

    async with owner_sessions() as session, session.begin():
        too_early = await purge_expired_uploads(session, store, expires_at + timedelta(minutes=1))
    async with owner_sessions() as session, session.begin():
        later = expires_at + REGISTRATION_GRACE + timedelta(minutes=1)
        purged = await purge_expired_uploads(session, store, later)

    assert too_early == 0
    assert purged >= 2
    async with owner_sessions() as session:
        for media_id in expired_ids:
            assert await session.get(Media, UUID(media_id)) is None
            assert not store.path_of(f"{circle.tenant.id}/{media_id}/original").exists()
        assert await session.get(Media, UUID(ready["id"])) is not None
    assert store.path_of(f"{circle.tenant.id}/{ready['id']}/original").exists()


async def test_nothing_to_purge(app: FastAPI, owner_sessions: Any) -> None:
    async with owner_sessions() as session, session.begin():
        long_ago = datetime(2000, 1, 1, tzinfo=UTC)
        assert await purge_expired_uploads(session, app.state.blob_store, long_ago) == 0
