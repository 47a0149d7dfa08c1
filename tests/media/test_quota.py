"""Each user's storage quota (seed 002's FAQ), counting ready and pending uploads."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from mosaic.core.database import DatabaseLocation
from mosaic.core.settings import Settings
from tests.conftest import unique_client_address
from tests.media.conftest import Circle, Uploads, app_with_media, jpeg_bytes

QUOTA = 3000


@pytest.fixture
async def small_quota(settings: Settings, location: DatabaseLocation) -> AsyncIterator[Uploads]:
    application = app_with_media(settings, location, media_quota_bytes_per_user=QUOTA)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, client=unique_client_address())
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Uploads(client=client, transfer=client)


def test_the_default_quota_is_100_mb() -> None:
    assert Settings().media.media_quota_bytes_per_user == 100 * 1024 * 1024


async def test_pending_and_ready_uploads_count_against_the_quota(
    small_quota: Uploads, circle: Circle
) -> None:
    data = jpeg_bytes()
    assert len(data) < QUOTA // 2
    await small_quota.upload(circle.contributor, circle.legacy_id, data)
    pending = await small_quota.presign(circle.contributor, circle.legacy_id, size=len(data))
    assert pending.status_code == 201
    used = 2 * len(data)

    refused = await small_quota.presign(circle.contributor, circle.legacy_id, size=QUOTA - used + 1)
    exactly = await small_quota.presign(circle.contributor, circle.legacy_id, size=QUOTA - used)

    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "STORAGE_QUOTA_EXCEEDED"
    assert error["details"] == {
        "quota_bytes": QUOTA,
        "used_bytes": used,
        "requested_bytes": QUOTA - used + 1,
    }
    assert exactly.status_code == 201


async def test_the_quota_is_per_user_and_freed_by_deleting(
    small_quota: Uploads, circle: Circle
) -> None:
    presigned = await small_quota.presign(circle.contributor, circle.legacy_id, size=QUOTA)
    assert presigned.status_code == 201
    assert (
        await small_quota.presign(circle.owner, circle.legacy_id, size=QUOTA)
    ).status_code == 201
    assert (
        await small_quota.presign(circle.contributor, circle.legacy_id, size=1)
    ).status_code == 422

    media_id = presigned.json()["media"]["id"]
    deleted = await small_quota.client.delete(
        f"/api/v1/media/{media_id}", headers=circle.contributor.headers
    )

    assert deleted.status_code == 204
    assert (
        await small_quota.presign(circle.contributor, circle.legacy_id, size=1)
    ).status_code == 201
