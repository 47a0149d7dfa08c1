"""HTTP routes of the media module: upload URLs, registration, listing, reading, deleting."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urljoin
from uuid import UUID

import structlog
from fastapi import APIRouter, BackgroundTasks, Header, Query, Response, status
from fastapi.responses import JSONResponse

from mosaic.authz import AccessDenied, MissingScope
from mosaic.authz.dependencies import CurrentSubject
from mosaic.core.dependencies import SettingsDep
from mosaic.core.errors import (
    ErrorBody,
    ErrorEnvelope,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    error_responses,
)
from mosaic.core.etag import etag_for, if_none_match_matches
from mosaic.core.pagination import Page, PageParams
from mosaic.core.request_context import current_request_id
from mosaic.identity.dependencies import IdempotentCreateDep, TenantSession
from mosaic.identity.errors import CsrfFailed, InvalidCredentials
from mosaic.media import service
from mosaic.media.dependencies import BlobStoreDep, Origin, RequestProvenance
from mosaic.media.errors import (
    ContentTypeMismatch,
    ExtensionMismatch,
    LegacyNotFound,
    MediaAlreadyRegistered,
    MediaNotFound,
    MediaTooLarge,
    StorageQuotaExceeded,
    UnsupportedContentType,
    UploadMissing,
    UploadRejected,
    UploadSizeMismatch,
)
from mosaic.media.representation import media_read, without_urls
from mosaic.media.schemas import (
    MediaPresign,
    MediaPresigned,
    MediaRead,
    MediaRegister,
    UploadInstructions,
)
from mosaic.media.storage import BlobStore

logger = structlog.get_logger(__name__)

router = APIRouter(
    prefix="/media",
    tags=["media"],
    responses={
        **error_responses(InvalidCredentials, CsrfFailed, MissingScope, AccessDenied),
        422: {"model": ErrorEnvelope, "description": "VALIDATION_ERROR"},
    },
)


@router.post(
    "/presign",
    status_code=status.HTTP_201_CREATED,
    response_model=MediaPresigned,
    summary="Start an upload: a pending media file and the signed URL to send its bytes to",
    responses=error_responses(
        LegacyNotFound,
        UnsupportedContentType,
        MediaTooLarge,
        ExtensionMismatch,
        StorageQuotaExceeded,
        IdempotencyKeyReused,
        IdempotencyKeyInProgress,
    ),
)
async def start_upload(
    data: MediaPresign,
    session: TenantSession,
    subject: CurrentSubject,
    store: BlobStoreDep,
    settings: SettingsDep,
    provenance: RequestProvenance,
    origin: Origin,
    idempotency: IdempotentCreateDep,
) -> JSONResponse:
    started = await service.start_upload(
        session,
        subject=subject,
        store=store,
        settings=settings.media,
        data=data,
        provenance=provenance,
    )
    media = await media_read(
        started.media, store=store, settings=settings.media, origin=origin, with_download=False
    )
    upload = UploadInstructions(
        url=urljoin(origin, started.upload.url),
        method=started.upload.method,
        headers=started.upload.headers,
        expires_at=started.expires_at,
    )
    return await idempotency.respond(
        MediaPresigned(media=media, upload=upload),
        status_code=201,
        headers={"Location": f"/api/v1/media/{media.id}"},
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=MediaRead,
    summary="Register an uploaded file: its bytes are checked and the media becomes ready",
    responses=error_responses(
        MediaNotFound,
        MediaAlreadyRegistered,
        UploadMissing,
        UploadSizeMismatch,
        ContentTypeMismatch,
        IdempotencyKeyReused,
        IdempotencyKeyInProgress,
    ),
)
async def register_upload(
    data: MediaRegister,
    session: TenantSession,
    subject: CurrentSubject,
    store: BlobStoreDep,
    settings: SettingsDep,
    provenance: RequestProvenance,
    origin: Origin,
    idempotency: IdempotentCreateDep,
) -> JSONResponse:
    try:
        media = await service.register_upload(
            session, subject=subject, store=store, media_id=data.media_id, provenance=provenance
        )
    except UploadRejected as rejected:
        # Answered, not raised: the rejected upload's removal must commit with the answer.
        envelope = ErrorEnvelope(
            error=ErrorBody(
                code=rejected.code,
                message=rejected.message,
                details=rejected.details,
                request_id=current_request_id(),
            )
        )
        return await idempotency.respond(envelope, status_code=rejected.status_code)
    read = await media_read(
        media, store=store, settings=settings.media, origin=origin, with_download=True
    )
    return await idempotency.respond(
        read, status_code=201, headers={"Location": f"/api/v1/media/{media.id}"}
    )


@router.get(
    "",
    response_model=Page[MediaRead],
    summary="List media: a legacy's for its members, and your own",
    responses=error_responses(LegacyNotFound),
)
async def list_media(
    session: TenantSession,
    subject: CurrentSubject,
    store: BlobStoreDep,
    settings: SettingsDep,
    origin: Origin,
    page: PageParams,
    legacy_id: Annotated[UUID | None, Query(description="Only this legacy's media")] = None,
) -> Page[MediaRead]:
    rows = await service.list_media(
        session, subject=subject, legacy_id=legacy_id, after=page.after, limit=page.limit + 1
    )
    reads = [
        await media_read(
            row, store=store, settings=settings.media, origin=origin, with_download=False
        )
        for row in rows
    ]
    return page.page(reads, lambda read: read, lambda read: read.id)


@router.get(
    "/{media_id}",
    response_model=MediaRead,
    summary="Read a media file, with a short-lived download URL",
    responses=error_responses(MediaNotFound),
)
async def read_media(
    media_id: UUID,
    session: TenantSession,
    subject: CurrentSubject,
    store: BlobStoreDep,
    settings: SettingsDep,
    origin: Origin,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    media = await service.get_media(session, subject=subject, media_id=media_id)
    read = await media_read(
        media, store=store, settings=settings.media, origin=origin, with_download=True
    )
    # The signed URLs change at every request; the media file's ETag covers everything else,
    # so an unchanged file answers 304 (fetch it without If-None-Match for fresh URLs).
    etag = etag_for(without_urls(read))
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if if_none_match_matches(if_none_match, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return JSONResponse(read.model_dump(mode="json"), headers=headers)


@router.delete(
    "/{media_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a media file and its blobs (its uploader or the legacy's owner)",
    responses=error_responses(MediaNotFound),
)
async def delete_media(
    media_id: UUID,
    session: TenantSession,
    subject: CurrentSubject,
    store: BlobStoreDep,
    provenance: RequestProvenance,
    background: BackgroundTasks,
) -> Response:
    keys = await service.delete_media(
        session, subject=subject, media_id=media_id, provenance=provenance
    )
    # After the response, so after the commit: a delete that rolled back keeps its bytes.
    background.add_task(_delete_blobs, store, keys)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _delete_blobs(store: BlobStore, keys: list[str]) -> None:
    for key in keys:
        try:
            await store.delete(key)
        except Exception:  # an orphaned blob costs storage, not correctness
            logger.exception("media_blob_delete_failed", key=key)
