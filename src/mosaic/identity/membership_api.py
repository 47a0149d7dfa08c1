"""HTTP routes of tenant membership: members, their roles, leaving, and invitations."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from mosaic.authz import AccessDenied, MissingScope
from mosaic.authz.dependencies import CurrentSubject
from mosaic.core.errors import ErrorEnvelope, error_responses
from mosaic.core.pagination import Page, PageParams
from mosaic.identity import membership_service as service
from mosaic.identity.audit import Origin
from mosaic.identity.dependencies import IdempotentCreateDep, InvitationToAccept, TenantSession
from mosaic.identity.errors import (
    AlreadyMember,
    CsrfFailed,
    InvalidCredentials,
    InvitationAlreadyAccepted,
    InvitationExpired,
    InvitationNotFound,
    InvitationRevoked,
    InvitationUsed,
    LastOwner,
    MemberNotFound,
)
from mosaic.identity.membership_repository import MemberRow
from mosaic.identity.membership_schemas import (
    InvitationCreate,
    InvitationCreated,
    InvitationRead,
    MemberRead,
    MemberRoleChange,
)

router = APIRouter(
    tags=["members"],
    responses={
        **error_responses(InvalidCredentials, CsrfFailed, MissingScope, AccessDenied),
        422: {"model": ErrorEnvelope, "description": "VALIDATION_ERROR"},
    },
)


def _member(row: MemberRow) -> MemberRead:
    membership, email, display_name = row
    return MemberRead(
        tenant_id=membership.tenant_id,
        user_id=membership.user_id,
        email=email,
        display_name=display_name,
        role=membership.role,
        state=membership.state,
        joined_at=membership.created_at,
    )


@router.get("/members", response_model=Page[MemberRead], summary="List the tenant's members")
async def list_members(
    session: TenantSession, subject: CurrentSubject, page: PageParams
) -> Page[MemberRead]:
    rows = await service.list_members(
        session, subject=subject, after=page.after, limit=page.limit + 1
    )
    return page.page(rows, _member, lambda row: row[0].user_id)


@router.delete(
    "/members/me",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Leave the tenant",
    responses=error_responses(MemberNotFound, LastOwner),
)
async def leave_tenant(
    request: Request, session: TenantSession, subject: CurrentSubject
) -> Response:
    if subject.user_id is None:
        raise MemberNotFound("Only a user can leave a tenant")
    await service.remove_member(
        session, subject=subject, user_id=subject.user_id, origin=Origin.of(request)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/members/{user_id}",
    response_model=MemberRead,
    summary="Read one member",
    responses=error_responses(MemberNotFound),
)
async def read_member(user_id: UUID, session: TenantSession, subject: CurrentSubject) -> MemberRead:
    return _member(await service.get_member(session, subject=subject, user_id=user_id))


@router.patch(
    "/members/{user_id}",
    response_model=MemberRead,
    summary="Change a member's role (owners only)",
    responses=error_responses(MemberNotFound, LastOwner),
)
async def change_member_role(
    user_id: UUID,
    data: MemberRoleChange,
    request: Request,
    session: TenantSession,
    subject: CurrentSubject,
) -> MemberRead:
    row = await service.change_role(
        session, subject=subject, user_id=user_id, role=data.role, origin=Origin.of(request)
    )
    return _member(row)


@router.delete(
    "/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a member (owners only)",
    responses=error_responses(MemberNotFound, LastOwner),
)
async def remove_member(
    user_id: UUID, request: Request, session: TenantSession, subject: CurrentSubject
) -> Response:
    await service.remove_member(
        session, subject=subject, user_id=user_id, origin=Origin.of(request)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/invitations", response_model=Page[InvitationRead], summary="List the tenant's invitations"
)
async def list_invitations(
    session: TenantSession, subject: CurrentSubject, page: PageParams
) -> Page[InvitationRead]:
    rows = await service.list_invitations(
        session, subject=subject, after=page.after, limit=page.limit + 1
    )
    return page.page(rows, InvitationRead.model_validate, lambda invitation: invitation.id)


@router.post(
    "/invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitationCreated,
    summary="Invite someone by email (the token is shown once)",
)
async def create_invitation(
    data: InvitationCreate,
    request: Request,
    session: TenantSession,
    subject: CurrentSubject,
    idempotency: IdempotentCreateDep,
) -> JSONResponse:
    invitation, token = await service.create_invitation(
        session, subject=subject, data=data, origin=Origin.of(request)
    )
    created = InvitationCreated(
        **InvitationRead.model_validate(invitation).model_dump(),
        token=token,
        accept_path="/api/v1/invitations/accept",
    )
    return await idempotency.respond(
        created, status_code=201, headers={"Location": f"/api/v1/invitations/{invitation.id}"}
    )


@router.post(
    "/invitations/accept",
    response_model=MemberRead,
    summary="Accept an invitation: join its tenant",
    responses=error_responses(
        InvitationNotFound, InvitationExpired, InvitationUsed, InvitationRevoked, AlreadyMember
    ),
)
async def accept_invitation(
    request: Request,
    session: TenantSession,
    subject: CurrentSubject,
    invitation: InvitationToAccept,
) -> MemberRead:
    row = await service.accept_invitation(
        session, subject=subject, invitation=invitation, origin=Origin.of(request)
    )
    return _member(row)


@router.get(
    "/invitations/{invitation_id}",
    response_model=InvitationRead,
    summary="Read one invitation",
    responses=error_responses(InvitationNotFound),
)
async def read_invitation(
    invitation_id: UUID, session: TenantSession, subject: CurrentSubject
) -> InvitationRead:
    invitation = await service.get_invitation(session, subject=subject, invitation_id=invitation_id)
    return InvitationRead.model_validate(invitation)


@router.delete(
    "/invitations/{invitation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an invitation",
    responses=error_responses(InvitationNotFound, InvitationAlreadyAccepted),
)
async def revoke_invitation(
    invitation_id: UUID, request: Request, session: TenantSession, subject: CurrentSubject
) -> Response:
    await service.revoke_invitation(
        session, subject=subject, invitation_id=invitation_id, origin=Origin.of(request)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
