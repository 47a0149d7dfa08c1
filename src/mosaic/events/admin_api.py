"""Admin routes of the event bus: dead letters (installation-wide) and the event audit trail.

Dead-letter ids are integers; the pagination cursor carries them as ``UUID(int=id)``.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import AwareDatetime

from mosaic.authz import AccessDenied, MissingScope
from mosaic.authz.dependencies import CurrentSubject
from mosaic.core.errors import ErrorEnvelope, error_responses
from mosaic.core.pagination import Page, PageParams
from mosaic.events import admin_service
from mosaic.events.dead_letters import DeadLetterNotFound, DeadLetterNotReplayable
from mosaic.events.runtime import EventRuntime
from mosaic.events.schemas import DeadLetterRead, DeadLetterSummary, EventAuditEntryRead
from mosaic.identity.audit import Origin
from mosaic.identity.dependencies import TenantSession
from mosaic.identity.errors import InvalidCredentials

router = APIRouter(
    prefix="/admin",
    tags=["events"],
    responses={
        **error_responses(InvalidCredentials, MissingScope, AccessDenied),
        422: {"model": ErrorEnvelope, "description": "VALIDATION_ERROR"},
    },
)


@router.get(
    "/dead-letters",
    response_model=Page[DeadLetterSummary],
    summary="Deliveries consumers gave up on, oldest first (installation administrators)",
)
async def list_dead_letters(
    session: TenantSession,
    subject: CurrentSubject,
    page: PageParams,
    consumer: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[DeadLetterSummary]:
    rows = await admin_service.list_dead_letters(
        session,
        subject=subject,
        consumer=consumer,
        after=page.after.int if page.after else None,
        limit=page.limit + 1,
    )
    return page.page(rows, DeadLetterSummary.model_validate, lambda row: UUID(int=row.id))


@router.get(
    "/dead-letters/{dead_letter_id}",
    response_model=DeadLetterRead,
    summary="One dead letter with its body and reason",
    responses=error_responses(DeadLetterNotFound),
)
async def read_dead_letter(
    dead_letter_id: int, session: TenantSession, subject: CurrentSubject
) -> DeadLetterRead:
    found = await admin_service.get_dead_letter(
        session, subject=subject, dead_letter_id=dead_letter_id
    )
    return DeadLetterRead.model_validate(found)


@router.post(
    "/dead-letters/{dead_letter_id}/replay",
    response_model=DeadLetterSummary,
    summary="Re-deliver a dead letter to its consumer and remove it",
    responses=error_responses(DeadLetterNotFound, DeadLetterNotReplayable),
)
async def replay_dead_letter(
    dead_letter_id: int, request: Request, session: TenantSession, subject: CurrentSubject
) -> DeadLetterSummary:
    runtime: EventRuntime = request.app.state.events
    replayed = await admin_service.replay_dead_letter(
        session,
        subject=subject,
        bus=await runtime.bus(),
        dead_letter_id=dead_letter_id,
        origin=Origin.of(request),
    )
    return DeadLetterSummary.model_validate(replayed)


@router.delete(
    "/dead-letters/{dead_letter_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Discard a dead letter for good",
    responses=error_responses(DeadLetterNotFound),
)
async def discard_dead_letter(
    dead_letter_id: int, request: Request, session: TenantSession, subject: CurrentSubject
) -> Response:
    await admin_service.discard_dead_letter(
        session, subject=subject, dead_letter_id=dead_letter_id, origin=Origin.of(request)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/event-audit-log",
    response_model=Page[EventAuditEntryRead],
    summary="Every domain event of the tenant, oldest first (its owners, administrators)",
)
async def list_event_audit_log(
    session: TenantSession,
    subject: CurrentSubject,
    page: PageParams,
    event_type: Annotated[str | None, Query(alias="type", max_length=100)] = None,
    since: Annotated[AwareDatetime | None, Query()] = None,
) -> Page[EventAuditEntryRead]:
    rows = await admin_service.list_event_audit_log(
        session,
        subject=subject,
        event_type=event_type,
        since=since,
        after=page.after,
        limit=page.limit + 1,
    )
    return page.page(rows, EventAuditEntryRead.model_validate, lambda row: row.event_id)
