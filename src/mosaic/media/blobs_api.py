"""The local blob store's upload and download URLs, served by Mosaic itself.

The signed token in the path is the whole credential, as a presigned URL is for S3: these
routes need no session and read no database. With the S3 backend they answer 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import FileResponse

from mosaic.core.errors import NotFound, error_responses
from mosaic.media.dependencies import BlobStoreDep
from mosaic.media.errors import (
    BlobAlreadyUploaded,
    BlobContentTypeMismatch,
    BlobTooLargeForUrl,
    BlobUrlInvalid,
)
from mosaic.media.storage import BlobStore
from mosaic.media.storage.local import BlobExists, BlobTooLarge, LocalBlobStore
from mosaic.media.storage.tokens import BlobGrant, BlobOperation, InvalidBlobToken

router = APIRouter(prefix="/media/blobs", tags=["media"])

# Connection: close, since the rest of a refused body is never read.
_CLOSE = {"Connection": "close"}


@router.put(
    "/{token}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Upload a file's bytes to a local-store upload URL (from POST /media/presign)",
    responses=error_responses(
        BlobUrlInvalid, BlobContentTypeMismatch, BlobTooLargeForUrl, BlobAlreadyUploaded
    ),
)
async def upload_blob(token: str, request: Request, store: BlobStoreDep) -> Response:
    local = _local(store)
    grant = _grant(local, token, BlobOperation.PUT)
    sent_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if sent_type != grant.content_type:
        raise BlobContentTypeMismatch(details={"expected": grant.content_type})
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > grant.max_bytes:
        raise BlobTooLargeForUrl(details={"max_bytes": grant.max_bytes}, headers=_CLOSE)
    try:
        await local.receive(grant.key, request.stream(), max_bytes=grant.max_bytes)
    except BlobTooLarge:
        raise BlobTooLargeForUrl(details={"max_bytes": grant.max_bytes}, headers=_CLOSE) from None
    except BlobExists:
        raise BlobAlreadyUploaded() from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{token}",
    response_class=FileResponse,
    summary="Download a file from a local-store download URL (from GET /media/{id})",
    responses=error_responses(BlobUrlInvalid, NotFound),
)
async def download_blob(token: str, store: BlobStoreDep) -> FileResponse:
    local = _local(store)
    grant = _grant(local, token, BlobOperation.GET)
    if await local.stat(grant.key) is None:
        raise NotFound()
    return FileResponse(
        local.path_of(grant.key),
        media_type=grant.content_type,
        # Served from the API's origin: never let a browser guess a more dangerous type.
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=60"},
    )


def _local(store: BlobStore) -> LocalBlobStore:
    if not isinstance(store, LocalBlobStore):
        raise NotFound()
    return store


def _grant(store: LocalBlobStore, token: str, op: BlobOperation) -> BlobGrant:
    try:
        return store.grant(token, op=op)
    except InvalidBlobToken:
        raise BlobUrlInvalid() from None
