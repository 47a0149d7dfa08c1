"""HTTP route of the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict

from mosaic.authz import AccessDenied, MissingScope
from mosaic.authz.dependencies import CurrentSubject
from mosaic.core.errors import ErrorEnvelope, error_responses
from mosaic.core.pagination import Page, PageParams
from mosaic.identity import audit_log
from mosaic.identity.dependencies import TenantSession
from mosaic.identity.errors import InvalidCredentials

router = APIRouter(
    tags=["audit"],
    responses={
        **error_responses(InvalidCredentials, MissingScope, AccessDenied),
        422: {"model": ErrorEnvelope, "description": "VALIDATION_ERROR"},
    },
)


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    tenant_id: UUID | None
    action: str
    outcome: str
    actor_user_id: UUID | None
    actor: str | None
    subject: str | None
    reason: str | None
    ip_address: str | None
    user_agent: str | None
    details: dict[str, Any]
    occurred_at: datetime


@router.get(
    "/audit-events",
    response_model=Page[AuditEventRead],
    summary="Security events: every tenant's for platform admins, the tenant's for its owners",
)
async def list_audit_events(
    session: TenantSession,
    subject: CurrentSubject,
    page: PageParams,
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[UUID | None, Query(description="The acting user's id")] = None,
    since: Annotated[AwareDatetime | None, Query()] = None,
) -> Page[AuditEventRead]:
    rows = await audit_log.list_events(
        session,
        subject=subject,
        action=action,
        actor_user_id=actor,
        since=since,
        after=page.after,
        limit=page.limit + 1,
    )
    return page.page(rows, AuditEventRead.model_validate, lambda event: event.id)
