"""HTTP routes of stories and their revisions; moderation and consent routes are included.

Every read of a story carries ``ETag: "<version>"``; writes take ``If-Match`` with it.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Response, status
from fastapi.responses import JSONResponse

from mosaic.authz import AccessDenied, MissingScope
from mosaic.authz.dependencies import CurrentSubject
from mosaic.core.errors import ErrorEnvelope, RateLimited, error_responses
from mosaic.core.etag import if_none_match_matches
from mosaic.core.pagination import Page, PageParams
from mosaic.identity.dependencies import IdempotentCreateDep, TenantSession
from mosaic.identity.errors import InvalidCredentials
from mosaic.models import Story, StoryRevision
from mosaic.stories import consent_api, moderation_api, service
from mosaic.stories.dependencies import IfMatchDep, ProvenanceDep, StoryCreationBudget
from mosaic.stories.errors import (
    EditConflict,
    LegacyNotFound,
    RevisionNotFound,
    StoryChanged,
    StoryNotFound,
)
from mosaic.stories.preconditions import etag_of
from mosaic.stories.rendering import to_html
from mosaic.stories.schemas import (
    RevisionRead,
    StoryCreate,
    StoryPatch,
    StoryRead,
    StoryReplace,
)

router = APIRouter(
    tags=["stories"],
    responses={
        **error_responses(InvalidCredentials, MissingScope, AccessDenied),
        422: {"model": ErrorEnvelope, "description": "VALIDATION_ERROR"},
    },
)

Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="A revision number")]
_WRITE_ERRORS = error_responses(StoryNotFound, StoryChanged, EditConflict)


def story_read(story: Story) -> StoryRead:
    return StoryRead(
        id=story.id,
        legacy_id=story.legacy_id,
        author_id=story.author_id,
        title=story.title,
        content=story.content,
        content_html=to_html(story.content),
        visibility=story.visibility,
        tags=list(story.tags),
        version=story.version,
        moderation_state=story.moderation_state,
        created_at=story.created_at,
        updated_at=story.updated_at,
    )


def _story_response(story: Story, *, status_code: int = 200) -> JSONResponse:
    return JSONResponse(
        story_read(story).model_dump(mode="json"),
        status_code=status_code,
        headers={"ETag": etag_of(story.version), "Cache-Control": "private, no-cache"},
    )


@router.post(
    "/stories",
    status_code=status.HTTP_201_CREATED,
    response_model=StoryRead,
    summary="Write a story about a legacy (its contributors; 10 a minute per user)",
    responses=error_responses(LegacyNotFound, RateLimited),
    dependencies=[StoryCreationBudget],
)
async def create_story(
    data: StoryCreate,
    session: TenantSession,
    subject: CurrentSubject,
    provenance: ProvenanceDep,
    idempotency: IdempotentCreateDep,
) -> JSONResponse:
    story = await service.create_story(session, subject=subject, data=data, provenance=provenance)
    return await idempotency.respond(
        story_read(story),
        status_code=201,
        headers={"Location": f"/api/v1/stories/{story.id}", "ETag": etag_of(story.version)},
    )


@router.get(
    "/stories",
    response_model=Page[StoryRead],
    summary="List a legacy's stories you may see, newest first",
    responses=error_responses(LegacyNotFound),
)
async def list_stories(
    legacy_id: Annotated[UUID, Query(description="The legacy whose stories to list")],
    session: TenantSession,
    subject: CurrentSubject,
    page: PageParams,
) -> Page[StoryRead]:
    stories = await service.list_stories(
        session, subject=subject, legacy_id=legacy_id, after=page.after, limit=page.limit + 1
    )
    return page.page(stories, story_read, lambda story: story.id)


@router.get(
    "/stories/{story_id}",
    response_model=StoryRead,
    summary="Read a story (ETag: its version)",
    responses=error_responses(StoryNotFound),
)
async def read_story(
    story_id: UUID,
    session: TenantSession,
    subject: CurrentSubject,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    story = await service.visible_story(session, subject=subject, story_id=story_id)
    etag = etag_of(story.version)
    if if_none_match_matches(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    return _story_response(story)


@router.put(
    "/stories/{story_id}",
    response_model=StoryRead,
    summary="Replace a story's title, content, visibility and tags (its author)",
    responses=_WRITE_ERRORS,
)
async def replace_story(
    story_id: UUID,
    data: StoryReplace,
    session: TenantSession,
    subject: CurrentSubject,
    provenance: ProvenanceDep,
    if_match: IfMatchDep,
) -> JSONResponse:
    story = await service.update_story(
        session,
        subject=subject,
        story_id=story_id,
        changes=data.model_dump(),
        if_match=if_match,
        provenance=provenance,
    )
    return _story_response(story)


@router.patch(
    "/stories/{story_id}",
    response_model=StoryRead,
    summary="Change some of a story's fields (its author)",
    responses=_WRITE_ERRORS,
)
async def patch_story(
    story_id: UUID,
    data: StoryPatch,
    session: TenantSession,
    subject: CurrentSubject,
    provenance: ProvenanceDep,
    if_match: IfMatchDep,
) -> JSONResponse:
    story = await service.update_story(
        session,
        subject=subject,
        story_id=story_id,
        changes=data.model_dump(exclude_unset=True),
        if_match=if_match,
        provenance=provenance,
    )
    return _story_response(story)


@router.delete(
    "/stories/{story_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a story (its author, the legacy's owner)",
    responses=_WRITE_ERRORS,
)
async def delete_story(
    story_id: UUID,
    session: TenantSession,
    subject: CurrentSubject,
    provenance: ProvenanceDep,
    if_match: IfMatchDep,
) -> Response:
    await service.delete_story(
        session, subject=subject, story_id=story_id, if_match=if_match, provenance=provenance
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/stories/{story_id}/revisions",
    response_model=Page[RevisionRead],
    summary="List a story's revisions, newest first (its author and moderators)",
    responses=error_responses(StoryNotFound),
)
async def list_revisions(
    story_id: UUID, session: TenantSession, subject: CurrentSubject, page: PageParams
) -> Page[RevisionRead]:
    revisions = await service.list_revisions(
        session, subject=subject, story_id=story_id, after=page.after, limit=page.limit + 1
    )
    return page.page(revisions, RevisionRead.model_validate, _revision_id)


def _revision_id(revision: StoryRevision) -> UUID:
    return revision.id


@router.get(
    "/stories/{story_id}/revisions/{version}",
    response_model=RevisionRead,
    summary="Read one revision of a story",
    responses=error_responses(StoryNotFound, RevisionNotFound),
)
async def read_revision(
    story_id: UUID, version: Version, session: TenantSession, subject: CurrentSubject
) -> RevisionRead:
    revision = await service.get_revision(
        session, subject=subject, story_id=story_id, version=version
    )
    return RevisionRead.model_validate(revision)


@router.post(
    "/stories/{story_id}/revisions/{version}/restore",
    response_model=StoryRead,
    summary="Bring an earlier revision back as a new one (its author)",
    responses=error_responses(StoryNotFound, StoryChanged, EditConflict, RevisionNotFound),
)
async def restore_revision(
    story_id: UUID,
    version: Version,
    session: TenantSession,
    subject: CurrentSubject,
    provenance: ProvenanceDep,
    if_match: IfMatchDep,
) -> JSONResponse:
    story = await service.restore_revision(
        session,
        subject=subject,
        story_id=story_id,
        version=version,
        if_match=if_match,
        provenance=provenance,
    )
    return _story_response(story)


router.include_router(moderation_api.router)
router.include_router(consent_api.router)
