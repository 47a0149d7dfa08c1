"""An upload over HTTP with the local store: presign, send the bytes, register, list, read,
download, delete — and every way the bytes can be refused."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.media.storage.local import LocalBlobStore
from mosaic.media.storage.tokens import BlobGrant, BlobOperation
from mosaic.models import Media
from tests.conftest import outbox_events
from tests.media.conftest import PDF_BYTES, Circle, Uploads, jpeg_bytes

BLOBS = "/api/v1/media/blobs"


def _store(app: FastAPI) -> LocalBlobStore:
    store = app.state.blob_store
    assert isinstance(store, LocalBlobStore)
    return store


async def _row(sessions: async_sessionmaker[AsyncSession], media_id: str) -> Media | None:
    async with sessions() as session:
        return await session.get(Media, UUID(media_id))


async def test_presign_upload_register_list_read_download_delete(
    app: FastAPI,
    client: httpx.AsyncClient,
    uploads: Uploads,
    circle: Circle,
    owner_sessions: async_sessionmaker[AsyncSession],
) -> None:
    data = jpeg_bytes()
    me = circle.contributor

    presigned = await uploads.presign(me, circle.legacy_id, size=len(data))
    assert presigned.status_code == 201, presigned.text
    media, upload = presigned.json()["media"], presigned.json()["upload"]
    assert media["state"] == "pending"
    assert upload["method"] == "PUT"
    assert upload["url"].startswith(f"http://testserver{BLOBS}/")
    assert upload["headers"] == {"Content-Type": "image/jpeg"}

    sent = await uploads.send(upload, data)
    assert sent.status_code == 204, sent.text

    registered = await uploads.register(me, media["id"])
    assert registered.status_code == 201, registered.text
    ready = registered.json()
    assert ready["state"] == "ready"
    assert ready["sha256"] == hashlib.sha256(data).hexdigest()
    assert ready["size_bytes"] == len(data)

    listed = await client.get(
        "/api/v1/media", params={"legacy_id": str(circle.legacy_id)}, headers=me.headers
    )
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["data"]] == [media["id"]]
    assert "etag" in listed.headers

    read = await client.get(f"/api/v1/media/{media['id']}", headers=me.headers)
    assert read.status_code == 200
    etag = read.headers["etag"]
    again = await client.get(
        f"/api/v1/media/{media['id']}", headers={**me.headers, "If-None-Match": etag}
    )
    assert again.status_code == 304

    downloaded = await client.get(read.json()["download_url"])
    assert downloaded.status_code == 200
    assert downloaded.content == data
    assert downloaded.headers["content-type"] == "image/jpeg"
    assert downloaded.headers["x-content-type-options"] == "nosniff"

    blob = _store(app).path_of(f"{circle.tenant.id}/{media['id']}/original")
    assert blob.exists()
    deleted = await client.delete(f"/api/v1/media/{media['id']}", headers=me.headers)
    assert deleted.status_code == 204
    assert not blob.exists()
    gone = await client.get(f"/api/v1/media/{media['id']}", headers=me.headers)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "MEDIA_NOT_FOUND"
    assert [event.type for event in await outbox_events(owner_sessions, media["id"])] == [
        "MediaUploadStarted",
        "MediaUploaded",
        "MediaDeleted",
    ]


async def test_writes_store_their_provenance(
    uploads: Uploads, circle: Circle, owner_sessions: async_sessionmaker[AsyncSession]
) -> None:
    ready = await uploads.upload(circle.contributor, circle.legacy_id, jpeg_bytes())

    row = await _row(owner_sessions, ready["id"])
    assert row is not None
    assert row.actor_id == circle.contributor.user_id
    assert row.owner_id == circle.contributor.user_id
    assert row.source_ip is not None
    assert "python-httpx" in (row.user_agent or "")


async def test_presign_with_an_idempotency_key_creates_one_pending_file(
    uploads: Uploads, circle: Circle, owner_sessions: async_sessionmaker[AsyncSession]
) -> None:
    headers = {"Idempotency-Key": "presign-once"}
    first = await uploads.presign(circle.contributor, circle.legacy_id, size=10, headers=headers)
    second = await uploads.presign(circle.contributor, circle.legacy_id, size=10, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert first.json()["media"]["id"] == second.json()["media"]["id"]
    async with owner_sessions() as session:
        count = await session.scalar(
            select(func.count()).where(Media.owner_id == circle.contributor.user_id)
        )
    assert count == 1


@pytest.mark.parametrize(
    ("content_type", "filename", "size", "code"),
    [
        ("application/pdf", "letter.pdf", 100, "UNSUPPORTED_CONTENT_TYPE"),
        ("image/svg+xml", "logo.svg", 100, "UNSUPPORTED_CONTENT_TYPE"),
        ("image/jpeg", "photo.jpg", 50 * 1024 * 1024 + 1, "MEDIA_TOO_LARGE"),
        ("video/mp4", "film.mp4", 500 * 1024 * 1024 + 1, "MEDIA_TOO_LARGE"),
        ("image/png", "photo.jpg", 100, "EXTENSION_MISMATCH"),
        ("image/jpeg", "photo", 100, "EXTENSION_MISMATCH"),
    ],
)
async def test_presign_refuses_types_sizes_and_extensions_up_front(
    uploads: Uploads, circle: Circle, content_type: str, filename: str, size: int, code: str
) -> None:
    response = await uploads.presign(
        circle.contributor, circle.legacy_id, size=size, content_type=content_type,
        filename=filename,
    )  # fmt: skip

    assert response.status_code == 422
    assert response.json()["error"]["code"] == code


async def test_a_video_up_to_its_limit_is_accepted(uploads: Uploads, circle: Circle) -> None:
    response = await uploads.presign(
        circle.owner, circle.legacy_id, size=90 * 1024 * 1024, content_type="video/mp4",
        filename="film.mp4",
    )  # fmt: skip

    assert response.status_code == 201


@pytest.mark.parametrize("body", [{"filename": "a.jpg", "content_type": "image/jpeg"},
                                  {"filename": "a.jpg", "content_type": "image/jpeg",
                                   "size_bytes": 0}])  # fmt: skip
async def test_presign_needs_a_positive_declared_size(
    client: httpx.AsyncClient, circle: Circle, body: dict[str, object]
) -> None:
    response = await client.post(
        "/api/v1/media/presign",
        json={"legacy_id": str(circle.legacy_id), **body},
        headers=circle.contributor.headers,
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("data", [PDF_BYTES, b"just some text, not a photo at all"])
async def test_bytes_that_are_not_the_declared_type_are_deleted_with_their_row(
    app: FastAPI,
    uploads: Uploads,
    circle: Circle,
    owner_sessions: async_sessionmaker[AsyncSession],
    data: bytes,
) -> None:
    presigned = await uploads.presign(circle.contributor, circle.legacy_id, size=len(data))
    media_id = presigned.json()["media"]["id"]
    assert (await uploads.send(presigned.json()["upload"], data)).status_code == 204

    registered = await uploads.register(circle.contributor, media_id)

    assert registered.status_code == 422
    assert registered.json()["error"]["code"] == "CONTENT_TYPE_MISMATCH"
    assert not _store(app).path_of(f"{circle.tenant.id}/{media_id}/original").exists()
    assert await _row(owner_sessions, media_id) is None
    assert (await uploads.register(circle.contributor, media_id)).status_code == 404


async def test_fewer_bytes_than_declared_are_refused_at_registration(
    app: FastAPI, uploads: Uploads, circle: Circle, owner_sessions: async_sessionmaker[AsyncSession]
) -> None:
    data = jpeg_bytes()
    presigned = await uploads.presign(circle.contributor, circle.legacy_id, size=len(data) + 10)
    media_id = presigned.json()["media"]["id"]
    assert (await uploads.send(presigned.json()["upload"], data)).status_code == 204

    registered = await uploads.register(circle.contributor, media_id)

    assert registered.status_code == 422
    assert registered.json()["error"]["code"] == "UPLOAD_SIZE_MISMATCH"
    assert await _row(owner_sessions, media_id) is None
    assert not _store(app).path_of(f"{circle.tenant.id}/{media_id}/original").exists()


async def test_more_bytes_than_declared_are_refused_while_uploading(
    app: FastAPI, uploads: Uploads, circle: Circle
) -> None:
    presigned = await uploads.presign(circle.contributor, circle.legacy_id, size=100)
    upload = presigned.json()["upload"]

    sent = await uploads.send(upload, b"\xff" * 101)

    assert sent.status_code == 413
    assert sent.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    media_id = presigned.json()["media"]["id"]
    assert not _store(app).path_of(f"{circle.tenant.id}/{media_id}/original").exists()


async def test_more_bytes_than_declared_are_refused_without_content_length(
    app: FastAPI, client: httpx.AsyncClient, uploads: Uploads, circle: Circle
) -> None:
    presigned = await uploads.presign(circle.contributor, circle.legacy_id, size=100)
    upload = presigned.json()["upload"]

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"\xff" * 60

    sent = await client.put(upload["url"], content=chunks(), headers=upload["headers"])

    assert sent.status_code == 413


async def test_uploads_may_exceed_the_json_body_limit(uploads: Uploads, circle: Circle) -> None:
    data = jpeg_bytes((1200, 900)) + b"\x00" * (200 * 1024)  # beyond the suite's 64 KiB limit
    presigned = await uploads.presign(circle.contributor, circle.legacy_id, size=len(data))

    sent = await uploads.send(presigned.json()["upload"], data)

    assert sent.status_code == 204, sent.text


async def test_an_upload_url_works_once(uploads: Uploads, circle: Circle) -> None:
    data = jpeg_bytes()
    presigned = await uploads.presign(circle.contributor, circle.legacy_id, size=len(data))
    upload = presigned.json()["upload"]
    assert (await uploads.send(upload, data)).status_code == 204

    again = await uploads.send(upload, data)

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "BLOB_ALREADY_UPLOADED"


async def test_an_upload_needs_the_declared_content_type(uploads: Uploads, circle: Circle) -> None:
    presigned = await uploads.presign(circle.contributor, circle.legacy_id, size=10)
    upload = presigned.json()["upload"] | {"headers": {"Content-Type": "text/html"}}

    sent = await uploads.send(upload, b"0123456789")

    assert sent.status_code == 415


async def test_an_expired_upload_url_is_refused(
    app: FastAPI, client: httpx.AsyncClient, circle: Circle
) -> None:
    store = _store(app)
    key = f"{circle.tenant.id}/{UUID(int=1)}/original"
    grant = BlobGrant(BlobOperation.PUT, key, "image/jpeg", int(time.time()) - 1, max_bytes=10)

    sent = await client.put(
        f"{BLOBS}/{store.tokens.issue(grant)}", content=b"x", headers={"Content-Type": "image/jpeg"}
    )

    assert sent.status_code == 403
    assert sent.json()["error"]["code"] == "BLOB_URL_INVALID"
    assert not store.path_of(key).exists()


async def test_a_tampered_or_misused_token_is_refused(
    client: httpx.AsyncClient, uploads: Uploads, circle: Circle
) -> None:
    data = jpeg_bytes()
    ready = await uploads.upload(circle.contributor, circle.legacy_id, data)
    read = await client.get(f"/api/v1/media/{ready['id']}", headers=circle.contributor.headers)
    download = read.json()["download_url"]
    token = download.rsplit("/", 1)[1]
    payload, signature = token.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]

    tampered = await client.get(f"{BLOBS}/{flipped}.{signature}")
    as_upload = await client.put(
        f"{BLOBS}/{token}", content=b"x", headers={"Content-Type": "image/jpeg"}
    )
    garbage = await client.get(f"{BLOBS}/not-a-token")

    assert tampered.status_code == as_upload.status_code == garbage.status_code == 403


async def test_register_before_the_upload_and_twice(uploads: Uploads, circle: Circle) -> None:
    data = jpeg_bytes()
    presigned = await uploads.presign(circle.contributor, circle.legacy_id, size=len(data))
    media_id = presigned.json()["media"]["id"]

    early = await uploads.register(circle.contributor, media_id)
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "UPLOAD_MISSING"

    await uploads.send(presigned.json()["upload"], data)
    assert (await uploads.register(circle.contributor, media_id)).status_code == 201
    twice = await uploads.register(circle.contributor, media_id)
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "MEDIA_ALREADY_REGISTERED"


async def test_blobs_live_under_the_media_directory(app: FastAPI) -> None:
    assert _store(app).directory == Path(app.state.settings.media_dir)
