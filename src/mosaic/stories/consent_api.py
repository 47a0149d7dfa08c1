"""HTTP routes of consent records: living people named in a story, and their answers."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from mosaic.authz.dependencies import CurrentSubject
from mosaic.core.errors import error_responses
from mosaic.core.pagination import Page, PageParams
from mosaic.identity.dependencies import IdempotentCreateDep, TenantSession
from mosaic.models import ConsentRecord
from mosaic.stories import consent_service as service
from mosaic.stories.dependencies import ProvenanceDep
from mosaic.stories.errors import ConsentNotFound, StoryNotFound
from mosaic.stories.schemas import ConsentCreate, ConsentRead, ConsentUpdate

router = APIRouter(tags=["consent"])


def consent_read(consent: ConsentRecord) -> ConsentRead:
    return ConsentRead(
        id=consent.id,
        story_id=consent.story_id,
        person_name=consent.person_name,
        contact=consent.person_email,
        status=consent.status,
        note=consent.note,
        decided_at=consent.decided_at,
        recorded_by=consent.recorded_by,
        created_at=consent.created_at,
        updated_at=consent.updated_at,
    )


@router.post(
    "/stories/{story_id}/consents",
    status_code=status.HTTP_201_CREATED,
    response_model=ConsentRead,
    summary="Record a living person named in the story and their consent (author, owners)",
    responses=error_responses(StoryNotFound),
)
async def record_consent(
    story_id: UUID,
    data: ConsentCreate,
    session: TenantSession,
    subject: CurrentSubject,
    provenance: ProvenanceDep,
    idempotency: IdempotentCreateDep,
) -> JSONResponse:
    consent = await service.record_consent(
        session, subject=subject, story_id=story_id, data=data, provenance=provenance
    )
    return await idempotency.respond(
        consent_read(consent),
        status_code=201,
        headers={"Location": f"/api/v1/stories/{story_id}/consents/{consent.id}"},
    )


@router.get(
    "/stories/{story_id}/consents",
    response_model=Page[ConsentRead],
    summary="List the consent records of a story (author, editors)",
    responses=error_responses(StoryNotFound),
)
async def list_consents(
    story_id: UUID, session: TenantSession, subject: CurrentSubject, page: PageParams
) -> Page[ConsentRead]:
    consents = await service.list_consents(
        session, subject=subject, story_id=story_id, after=page.after, limit=page.limit + 1
    )
    return page.page(consents, consent_read, lambda consent: consent.id)


@router.patch(
    "/stories/{story_id}/consents/{consent_id}",
    response_model=ConsentRead,
    summary="Change a consent record: the person's answer, contact or note (author, owners)",
    responses=error_responses(StoryNotFound, ConsentNotFound),
)
async def update_consent(
    story_id: UUID,
    consent_id: UUID,
    data: ConsentUpdate,
    session: TenantSession,
    subject: CurrentSubject,
    provenance: ProvenanceDep,
) -> ConsentRead:
    consent = await service.update_consent(
        session,
        subject=subject,
        story_id=story_id,
        consent_id=consent_id,
        data=data,
        provenance=provenance,
    )
    return consent_read(consent)
