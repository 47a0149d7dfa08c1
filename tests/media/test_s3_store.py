"""The same upload with the S3 store, against moto's S3 server in a process of its own."""

from __future__ import annotations

import hashlib

import httpx
from fastapi import FastAPI

from mosaic.media.storage import BlobStore
from tests.media.conftest import PDF_BYTES, S3_BUCKET, Circle, Uploads, jpeg_bytes


async def test_presign_upload_register_read_download_delete_on_s3(
    s3_app: FastAPI, s3_uploads: Uploads, circle: Circle, moto_endpoint: str
) -> None:
    data = jpeg_bytes()
    me = circle.contributor
    presigned = await s3_uploads.presign(me, circle.legacy_id, size=len(data))
    assert presigned.status_code == 201, presigned.text
    upload, media_id = presigned.json()["upload"], presigned.json()["media"]["id"]
    assert upload["url"].startswith(f"{moto_endpoint}/{S3_BUCKET}/")

    assert (await s3_uploads.send(upload, data)).status_code == 200
    registered = await s3_uploads.register(me, media_id)
    assert registered.status_code == 201, registered.text
    assert registered.json()["sha256"] == hashlib.sha256(data).hexdigest()

    listed = await s3_uploads.client.get(
        "/api/v1/media", params={"legacy_id": str(circle.legacy_id)}, headers=me.headers
    )
    assert [item["id"] for item in listed.json()["data"]] == [media_id]
    read = await s3_uploads.client.get(f"/api/v1/media/{media_id}", headers=me.headers)
    async with httpx.AsyncClient() as outside:
        downloaded = await outside.get(read.json()["download_url"])
    assert downloaded.content == data

    store: BlobStore = s3_app.state.blob_store
    key = f"{circle.tenant.id}/{media_id}/original"
    assert await store.stat(key) is not None
    deleted = await s3_uploads.client.delete(f"/api/v1/media/{media_id}", headers=me.headers)
    assert deleted.status_code == 204
    assert await store.stat(key) is None
    await store.delete(key)  # deleting again is fine


async def test_a_mismatched_upload_is_removed_from_the_bucket(
    s3_app: FastAPI, s3_uploads: Uploads, circle: Circle
) -> None:
    presigned = await s3_uploads.presign(circle.contributor, circle.legacy_id, size=len(PDF_BYTES))
    media_id = presigned.json()["media"]["id"]
    await s3_uploads.send(presigned.json()["upload"], PDF_BYTES)

    registered = await s3_uploads.register(circle.contributor, media_id)

    assert registered.status_code == 422
    assert registered.json()["error"]["code"] == "CONTENT_TYPE_MISMATCH"
    store: BlobStore = s3_app.state.blob_store
    assert await store.stat(f"{circle.tenant.id}/{media_id}/original") is None


async def test_the_store_reads_streams_and_puts(s3_app: FastAPI) -> None:
    store: BlobStore = s3_app.state.blob_store
    await store.put("t/m/thumbnail.webp", b"thumb", content_type="image/webp")

    assert await store.read("t/m/thumbnail.webp") == b"thumb"
    assert b"".join([chunk async for chunk in store.stream("t/m/thumbnail.webp")]) == b"thumb"
    try:
        await store.read("t/m/missing")
    except FileNotFoundError:
        pass
    else:
        raise AssertionError("a missing blob must raise FileNotFoundError")
