"""HTTP routes of legacy membership: join, members, approve, change role, remove, leave."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from mosaic.authz.dependencies import CurrentSubject
from mosaic.core.errors import error_responses
from mosaic.core.pagination import Page, PageParams
from mosaic.core.provenance import Provenance
from mosaic.identity.dependencies import IdempotentCreateDep, TenantSession
from mosaic.identity.errors import NotAUser
from mosaic.legacies import member_service as service
from mosaic.legacies.errors import (
    AlreadyLegacyMember,
    JoinAlreadyRequested,
    LastLegacyOwner,
    LegacyMemberNotFound,
    LegacyNotFound,
    NotPending,
)
from mosaic.legacies.repository import MemberRow
from mosaic.legacies.schemas import LegacyMemberApproval, LegacyMemberRead, LegacyMemberRoleChange

router = APIRouter(tags=["legacy members"])


def member_read(row: MemberRow) -> LegacyMemberRead:
    """A membership row with its user's email and name, as the API shows it."""
    membership, email, display_name = row
    return LegacyMemberRead(
        legacy_id=membership.legacy_id,
        user_id=membership.user_id,
        email=email,
        display_name=display_name,
        role=membership.role,
        state=membership.state,
        joined_at=membership.joined_at,
        approved_by=membership.approved_by,
        requested_at=membership.created_at,
    )


@router.post(
    "/legacies/{legacy_id}/join",
    status_code=status.HTTP_201_CREATED,
    response_model=LegacyMemberRead,
    summary="Ask to join a legacy (pending until an owner approves)",
    responses=error_responses(LegacyNotFound, AlreadyLegacyMember, JoinAlreadyRequested, NotAUser),
)
async def join_legacy(
    legacy_id: UUID,
    request: Request,
    session: TenantSession,
    subject: CurrentSubject,
    idempotency: IdempotentCreateDep,
) -> JSONResponse:
    row = await service.request_to_join(
        session,
        subject=subject,
        legacy_id=legacy_id,
        provenance=Provenance.of(subject.principal, request),
    )
    return await idempotency.respond(member_read(row), status_code=201)


@router.get(
    "/legacies/{legacy_id}/members",
    response_model=Page[LegacyMemberRead],
    summary="List a legacy's members and pending requests",
    responses=error_responses(LegacyNotFound),
)
async def list_members(
    legacy_id: UUID, session: TenantSession, subject: CurrentSubject, page: PageParams
) -> Page[LegacyMemberRead]:
    rows = await service.list_members(
        session, subject=subject, legacy_id=legacy_id, after=page.after, limit=page.limit + 1
    )
    return page.page(rows, member_read, lambda row: row[0].user_id)


@router.post(
    "/legacies/{legacy_id}/members/{user_id}/approve",
    response_model=LegacyMemberRead,
    summary="Approve a request to join (owners)",
    responses=error_responses(LegacyNotFound, LegacyMemberNotFound, NotPending),
)
async def approve_member(
    legacy_id: UUID,
    user_id: UUID,
    request: Request,
    session: TenantSession,
    subject: CurrentSubject,
    data: LegacyMemberApproval | None = None,
) -> LegacyMemberRead:
    role = (data or LegacyMemberApproval()).role
    row = await service.approve(
        session,
        subject=subject,
        legacy_id=legacy_id,
        user_id=user_id,
        role=role,
        provenance=Provenance.of(subject.principal, request),
    )
    return member_read(row)


@router.patch(
    "/legacies/{legacy_id}/members/{user_id}",
    response_model=LegacyMemberRead,
    summary="Change a member's role (owners; never the last owner's)",
    responses=error_responses(LegacyNotFound, LegacyMemberNotFound, LastLegacyOwner),
)
async def change_member_role(
    legacy_id: UUID,
    user_id: UUID,
    data: LegacyMemberRoleChange,
    request: Request,
    session: TenantSession,
    subject: CurrentSubject,
) -> LegacyMemberRead:
    row = await service.change_role(
        session,
        subject=subject,
        legacy_id=legacy_id,
        user_id=user_id,
        role=data.role,
        provenance=Provenance.of(subject.principal, request),
    )
    return member_read(row)


@router.delete(
    "/legacies/{legacy_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a member or reject a request to join (owners)",
    responses=error_responses(LegacyNotFound, LegacyMemberNotFound, LastLegacyOwner),
)
async def remove_member(
    legacy_id: UUID, user_id: UUID, session: TenantSession, subject: CurrentSubject
) -> Response:
    await service.remove(session, subject=subject, legacy_id=legacy_id, user_id=user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/legacies/{legacy_id}/leave",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Leave a legacy, or withdraw your request to join",
    responses=error_responses(LegacyNotFound, LegacyMemberNotFound, LastLegacyOwner, NotAUser),
)
async def leave_legacy(
    legacy_id: UUID, session: TenantSession, subject: CurrentSubject
) -> Response:
    await service.leave(session, subject=subject, legacy_id=legacy_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
