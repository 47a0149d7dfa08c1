"""HTTP routes of moderation: flag a story, the moderators' queue, resolving a flag."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status
from fastapi.responses import JSONResponse

from mosaic.authz.dependencies import CurrentSubject
from mosaic.core.errors import error_responses
from mosaic.core.pagination import Page, PageParams
from mosaic.identity.dependencies import IdempotentCreateDep, TenantSession
from mosaic.models import FlagState
from mosaic.stories import moderation_service as service
from mosaic.stories.dependencies import ProvenanceDep
from mosaic.stories.errors import FlagAlreadyOpen, FlagAlreadyResolved, FlagNotFound, StoryNotFound
from mosaic.stories.schemas import FlagCreate, FlagRead, FlagResolve

router = APIRouter(tags=["moderation"])


@router.post(
    "/stories/{story_id}/flags",
    status_code=status.HTTP_201_CREATED,
    response_model=FlagRead,
    summary="Flag a story for the moderators (one open flag per user per story)",
    responses=error_responses(StoryNotFound, FlagAlreadyOpen),
)
async def flag_story(
    story_id: UUID,
    data: FlagCreate,
    session: TenantSession,
    subject: CurrentSubject,
    provenance: ProvenanceDep,
    idempotency: IdempotentCreateDep,
) -> JSONResponse:
    flag = await service.flag_story(
        session, subject=subject, story_id=story_id, data=data, provenance=provenance
    )
    return await idempotency.respond(FlagRead.model_validate(flag), status_code=201)


@router.get(
    "/moderation/flags",
    response_model=Page[FlagRead],
    summary="The moderation queue: flags on the stories you moderate, oldest first",
)
async def list_flags(
    session: TenantSession,
    subject: CurrentSubject,
    page: PageParams,
    state: Annotated[FlagState | None, Query(description="open or resolved; all without")] = None,
) -> Page[FlagRead]:
    flags = await service.list_flags(
        session, subject=subject, state=state, after=page.after, limit=page.limit + 1
    )
    return page.page(flags, FlagRead.model_validate, lambda flag: flag.id)


@router.post(
    "/moderation/flags/{flag_id}/resolve",
    response_model=FlagRead,
    summary="Resolve a flag: dismiss it, hide the story or remove it",
    responses=error_responses(FlagNotFound, FlagAlreadyResolved),
)
async def resolve_flag(
    flag_id: UUID,
    data: FlagResolve,
    session: TenantSession,
    subject: CurrentSubject,
    provenance: ProvenanceDep,
) -> FlagRead:
    flag = await service.resolve_flag(
        session, subject=subject, flag_id=flag_id, data=data, provenance=provenance
    )
    return FlagRead.model_validate(flag)
