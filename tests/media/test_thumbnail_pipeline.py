"""Uploading an image through the API yields its thumbnail with no manual step: the outbox,
the relay, the bus and the ``thumbnails`` consumer of the events table, as ``mosaic serve``
runs them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from mosaic.app import create_app
from mosaic.core.database import DatabaseLocation
from mosaic.core.settings import Settings
from mosaic.events.consumers import CONSUMER_NAMES, consumers
from tests.conftest import unique_client_address
from tests.media.conftest import Circle, Uploads, jpeg_bytes

# The relay may first publish what earlier tests left in the shared database's outbox.
PROCESSING_TIMEOUT_SECONDS = 90.0


@pytest.fixture
async def serving_app(settings: Settings, location: DatabaseLocation) -> AsyncIterator[FastAPI]:
    """The API with the relay and the consumers running in its process (``mosaic serve``)."""
    application = create_app(settings, location, run_worker=True)
    async with LifespanManager(application, shutdown_timeout=60):
        yield application


def test_the_consumers_table_names_every_consumer(settings: Settings) -> None:
    table = consumers(settings)

    assert tuple(table) == CONSUMER_NAMES
    assert table["thumbnails"].accepts("MediaUploaded")
    assert not table["thumbnails"].accepts("StoryCreated")
    assert table["notifications"].accepts("MemberJoined")
    assert table["audit"].accepts("StoryCreated")


async def test_an_uploaded_image_gets_its_thumbnail_without_a_manual_step(
    serving_app: FastAPI, circle: Circle
) -> None:
    transport = httpx.ASGITransport(app=serving_app, client=unique_client_address())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        uploads = Uploads(client=client, transfer=client)
        media = await uploads.upload(
            circle.contributor, circle.legacy_id, jpeg_bytes((1600, 1200), camera="Fujifilm")
        )
        assert media["thumbnail_url"] is None

        processed = await _until_processed(client, circle, media["id"])

        assert (processed["width"], processed["height"]) == (1600, 1200)
        assert processed["image_metadata"]["camera_make"] == "Fujifilm"
        thumbnail = await client.get(processed["thumbnail_url"], headers=circle.viewer.headers)
        assert thumbnail.status_code == 200
        assert thumbnail.headers["content-type"] == "image/webp"


async def _until_processed(
    client: httpx.AsyncClient, circle: Circle, media_id: str
) -> dict[str, Any]:
    deadline = time.monotonic() + PROCESSING_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        response = await client.get(f"/api/v1/media/{media_id}", headers=circle.viewer.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["processed_at"] is not None:
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"media {media_id} was not processed in {PROCESSING_TIMEOUT_SECONDS} s")
