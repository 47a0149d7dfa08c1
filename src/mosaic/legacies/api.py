"""HTTP routes of legacies; the member and invitation routes are included from their own
modules, so the composition root mounts one router."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse

from mosaic.authz import AccessDenied, MissingScope
from mosaic.authz.dependencies import CurrentSubject
from mosaic.core.errors import ErrorEnvelope, PreconditionFailed, error_responses
from mosaic.core.etag import etag_for
from mosaic.core.pagination import Page, PageParams
from mosaic.core.provenance import Provenance
from mosaic.identity.dependencies import IdempotentCreateDep, TenantSession
from mosaic.identity.errors import CsrfFailed, InvalidCredentials
from mosaic.legacies import service
from mosaic.legacies.errors import DatesOutOfOrder, LegacyNotFound
from mosaic.legacies.invitation_api import router as invitation_router
from mosaic.legacies.member_api import router as member_router
from mosaic.legacies.schemas import (
    LegacyCreate,
    LegacyPatch,
    LegacyRead,
    LegacyReplace,
    LegacySearchHit,
    SearchText,
)
from mosaic.legacies.slugs import SLUG_MAX
from mosaic.models import Legacy

router = APIRouter(
    tags=["legacies"],
    responses={
        **error_responses(InvalidCredentials, CsrfFailed, MissingScope, AccessDenied),
        422: {"model": ErrorEnvelope, "description": "VALIDATION_ERROR"},
    },
)

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The ETag of the legacy as last read: refused (412) if it changed since.",
    ),
]


def representation(legacy: Legacy) -> JSONResponse:
    """The one JSON rendering of a legacy, so a read's ETag and ``If-Match`` agree."""
    return JSONResponse(LegacyRead.model_validate(legacy).model_dump(mode="json"))


def _etag(legacy: Legacy) -> str:
    return etag_for(bytes(representation(legacy).body))


def _if_match(header: str | None) -> Callable[[Legacy], None] | None:
    if header is None:
        return None

    def check(legacy: Legacy) -> None:
        if header.strip() == "*":
            return
        current = _etag(legacy)
        # Strong comparison (RFC 9110): a weak validator never matches for a write.
        if current not in (candidate.strip() for candidate in header.split(",")):
            raise PreconditionFailed(details={"etag": current})

    return check


def _written(legacy: Legacy, status_code: int = status.HTTP_200_OK) -> JSONResponse:
    response = representation(legacy)
    response.status_code = status_code
    response.headers["ETag"] = _etag(legacy)
    return response


@router.post(
    "/legacies",
    status_code=status.HTTP_201_CREATED,
    response_model=LegacyRead,
    summary="Create a legacy (you become its owner)",
)
async def create_legacy(
    data: LegacyCreate,
    request: Request,
    session: TenantSession,
    subject: CurrentSubject,
    idempotency: IdempotentCreateDep,
) -> JSONResponse:
    legacy = await service.create(
        session,
        subject=subject,
        data=data,
        provenance=Provenance.of(subject.principal, request),
    )
    return await idempotency.respond(
        LegacyRead.model_validate(legacy),
        status_code=201,
        headers={"Location": f"/api/v1/legacies/{legacy.id}"},
    )


@router.get(
    "/legacies",
    response_model=Page[LegacyRead],
    summary="List the legacies you are an active member of",
)
async def list_my_legacies(
    session: TenantSession, subject: CurrentSubject, page: PageParams
) -> Page[LegacyRead]:
    rows = await service.list_mine(session, subject=subject, after=page.after, limit=page.limit + 1)
    return page.page(rows, LegacyRead.model_validate, lambda legacy: legacy.id)


@router.get(
    "/legacies/search",
    response_model=Page[LegacySearchHit],
    summary="Find legacies by name (typo-tolerant, best match first)",
)
async def search_legacies(
    q: Annotated[SearchText, Query(description="A name or part of one")],
    session: TenantSession,
    subject: CurrentSubject,
    page: PageParams,
) -> Page[LegacySearchHit]:
    rows = await service.search(
        session, subject=subject, text=q, after=page.after, limit=page.limit + 1
    )
    return page.page(
        rows,
        lambda row: LegacySearchHit(
            **LegacyRead.model_validate(row[0]).model_dump(), score=round(row[1], 4)
        ),
        lambda row: row[0].id,
    )


@router.get(
    "/legacies/{reference}",
    response_model=LegacyRead,
    summary="Read a legacy by id or slug",
    responses=error_responses(LegacyNotFound),
)
async def read_legacy(
    reference: Annotated[str, Path(min_length=1, max_length=SLUG_MAX + 20)],
    session: TenantSession,
    subject: CurrentSubject,
) -> JSONResponse:
    legacy = await service.get(session, subject=subject, reference=reference)
    return representation(legacy)


@router.put(
    "/legacies/{legacy_id}",
    response_model=LegacyRead,
    summary="Replace a legacy's details (editors and owners; the slug stays)",
    responses=error_responses(LegacyNotFound, PreconditionFailed, DatesOutOfOrder),
)
async def replace_legacy(
    legacy_id: UUID,
    data: LegacyReplace,
    request: Request,
    session: TenantSession,
    subject: CurrentSubject,
    if_match: IfMatch = None,
) -> JSONResponse:
    legacy = await service.update(
        session,
        subject=subject,
        legacy_id=legacy_id,
        changes=data.model_dump(),
        provenance=Provenance.of(subject.principal, request),
        precondition=_if_match(if_match),
    )
    return _written(legacy)


@router.patch(
    "/legacies/{legacy_id}",
    response_model=LegacyRead,
    summary="Change some of a legacy's details (editors and owners)",
    responses=error_responses(LegacyNotFound, PreconditionFailed, DatesOutOfOrder),
)
async def patch_legacy(
    legacy_id: UUID,
    data: LegacyPatch,
    request: Request,
    session: TenantSession,
    subject: CurrentSubject,
    if_match: IfMatch = None,
) -> JSONResponse:
    legacy = await service.update(
        session,
        subject=subject,
        legacy_id=legacy_id,
        changes=data.model_dump(include=data.model_fields_set),
        provenance=Provenance.of(subject.principal, request),
        precondition=_if_match(if_match),
    )
    return _written(legacy)


@router.delete(
    "/legacies/{legacy_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a legacy (owners only; it answers 404 from then on)",
    responses=error_responses(LegacyNotFound),
)
async def delete_legacy(
    legacy_id: UUID, request: Request, session: TenantSession, subject: CurrentSubject
) -> Response:
    await service.delete(
        session,
        subject=subject,
        legacy_id=legacy_id,
        provenance=Provenance.of(subject.principal, request),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


router.include_router(member_router)
router.include_router(invitation_router)
