"""HTTP routes of the privacy module: the export ZIP, subject access and erasure."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from mosaic.authz import AccessDenied, MissingScope
from mosaic.authz.dependencies import CurrentSubject
from mosaic.core.database import Database
from mosaic.core.dependencies import DatabaseDep
from mosaic.core.errors import ErrorEnvelope, RateLimited, error_responses
from mosaic.core.rate_limiting import RateLimiter, parse_limit
from mosaic.identity.audit import AuditAction, AuditRecord, Origin, record_independently
from mosaic.identity.components import IdentityComponents
from mosaic.identity.dependencies import IdentityDep, TenantSession
from mosaic.identity.errors import CsrfFailed, InvalidCredentials, UserNotFound
from mosaic.privacy import export, service
from mosaic.privacy.blobs import BlobRemoverDep, delete_blobs
from mosaic.privacy.errors import (
    BlobStoreMissing,
    ConfirmationMismatch,
    SoleOwner,
    UserAccountRequired,
)
from mosaic.privacy.schemas import EraseConfirmation, PersonalDataRead

# Erasure is rare and irreversible: a handful of attempts per credential, so a stolen token
# cannot guess its way through confirmations.
ERASE_LIMIT = parse_limit("5/hour")

router = APIRouter(
    tags=["privacy"],
    responses={
        **error_responses(
            InvalidCredentials, CsrfFailed, MissingScope, AccessDenied, UserAccountRequired
        ),
        422: {"model": ErrorEnvelope, "description": "VALIDATION_ERROR"},
    },
)


@router.get(
    "/export",
    summary="Download your stories as Markdown and your media manifest, as a ZIP",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "The ZIP archive"}},
)
async def export_data(session: TenantSession, subject: CurrentSubject) -> StreamingResponse:
    archive = await service.export_archive(session, subject=subject)
    filename = f"mosaic-export-{datetime.now(UTC):%Y%m%d}.zip"
    return StreamingResponse(
        export.chunks(archive),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/me/personal-data",
    response_model=PersonalDataRead,
    summary="Everything Mosaic holds about you (subject access)",
)
async def read_personal_data(session: TenantSession, subject: CurrentSubject) -> PersonalDataRead:
    return await service.personal_data(session, subject=subject)


async def _erase(
    request: Request,
    session: TenantSession,
    subject: CurrentSubject,
    blob_remover: BlobRemoverDep,
    components: IdentityComponents,
    database: Database,
    *,
    user_id: UUID,
    confirm: str,
) -> Response:
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.hit(ERASE_LIMIT, "account-erase", subject.principal.key)
    try:
        erased = await service.erase(
            session,
            components=components,
            subject=subject,
            user_id=user_id,
            confirm=confirm,
            origin=Origin.of(request),
        )
    except ConfirmationMismatch:
        # The request's transaction rolls back with the error; the failed attempt stays.
        await record_independently(
            database.sessionmaker,
            AuditRecord(
                action=AuditAction.ACCOUNT_ERASED,
                outcome="failure",
                tenant_id=subject.tenant_id,
                actor_user_id=subject.user_id,
                actor=subject.principal.key,
                subject=f"user:{user_id}",
                reason="confirmation_mismatch",
                origin=Origin.of(request),
            ),
        )
        raise
    if not erased.storage_keys:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    if blob_remover is None:
        raise BlobStoreMissing()  # rolls the erasure back: no row goes without its blob
    # A background task runs after the response is sent, so after the commit: a failed
    # commit never deletes the bytes of rows that are still there.
    return Response(
        status_code=status.HTTP_204_NO_CONTENT,
        background=BackgroundTask(delete_blobs, blob_remover, erased.storage_keys),
    )


_ERASE_ERRORS = error_responses(
    ConfirmationMismatch, UserNotFound, SoleOwner, RateLimited, BlobStoreMissing
)


@router.post(
    "/me/erase",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Erase your account and personal data (irreversible)",
    responses=_ERASE_ERRORS,
)
async def erase_me(
    data: EraseConfirmation,
    request: Request,
    session: TenantSession,
    subject: CurrentSubject,
    blob_remover: BlobRemoverDep,
    components: IdentityDep,
    database: DatabaseDep,
) -> Response:
    user_id = subject.user_id
    if user_id is None:
        raise UserAccountRequired()
    return await _erase(
        request,
        session,
        subject,
        blob_remover,
        components,
        database,
        user_id=user_id,
        confirm=data.confirm,
    )


@router.post(
    "/users/{user_id}/erase",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Erase a user's account and personal data (platform admins; irreversible)",
    responses=_ERASE_ERRORS,
)
async def erase_user(
    user_id: UUID,
    data: EraseConfirmation,
    request: Request,
    session: TenantSession,
    subject: CurrentSubject,
    blob_remover: BlobRemoverDep,
    components: IdentityDep,
    database: DatabaseDep,
) -> Response:
    return await _erase(
        request,
        session,
        subject,
        blob_remover,
        components,
        database,
        user_id=user_id,
        confirm=data.confirm,
    )
