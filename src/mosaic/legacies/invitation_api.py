"""HTTP routes of legacy invitations: create (by email or as a link), list, revoke, accept."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, BackgroundTasks, Request, Response, status
from fastapi.responses import JSONResponse

from mosaic.authz.dependencies import CurrentSubject
from mosaic.core.dependencies import SettingsDep
from mosaic.core.errors import error_responses
from mosaic.core.mail import send_after_commit
from mosaic.core.pagination import Page, PageParams
from mosaic.core.provenance import Provenance
from mosaic.identity.dependencies import IdempotentCreateDep, IdentityDep, TenantSession
from mosaic.identity.errors import NotAUser
from mosaic.legacies import invitation_service as service
from mosaic.legacies.errors import (
    AlreadyLegacyMember,
    LegacyInvitationAlreadyAccepted,
    LegacyInvitationExpired,
    LegacyInvitationNotFound,
    LegacyInvitationRevoked,
    LegacyInvitationUsed,
    LegacyNotFound,
)
from mosaic.legacies.member_api import member_read
from mosaic.legacies.schemas import (
    LegacyInvitationAccept,
    LegacyInvitationCreate,
    LegacyInvitationCreated,
    LegacyInvitationRead,
    LegacyMemberRead,
)

router = APIRouter(tags=["legacy invitations"])


@router.post(
    "/legacies/{legacy_id}/invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=LegacyInvitationCreated,
    summary="Invite by email, or make a link invitation (owners; the token is shown once)",
    responses=error_responses(LegacyNotFound),
)
async def create_invitation(
    legacy_id: UUID,
    data: LegacyInvitationCreate,
    request: Request,
    session: TenantSession,
    subject: CurrentSubject,
    settings: SettingsDep,
    identity: IdentityDep,
    idempotency: IdempotentCreateDep,
    background: BackgroundTasks,
) -> JSONResponse:
    # The web app's accept page lives at the public origin; without one, at this request's.
    link_base = settings.server.public_url or str(request.base_url).rstrip("/")
    invitation, token, mail = await service.create(
        session,
        subject=subject,
        legacy_id=legacy_id,
        data=data,
        link_base=link_base,
        provenance=Provenance.of(subject.principal, request),
    )
    if mail is not None:
        # After the response, so after the commit: a rolled-back invitation mails nobody.
        # A mail that cannot be sent leaves the invitation standing: its inviter has the token.
        background.add_task(
            send_after_commit, identity.mailer, mail, about=f"legacy_invitation:{invitation.id}"
        )
    created = LegacyInvitationCreated(
        **LegacyInvitationRead.model_validate(invitation).model_dump(),
        token=token,
        accept_path=service.ACCEPT_PATH,
    )
    return await idempotency.respond(created, status_code=201)


@router.get(
    "/legacies/{legacy_id}/invitations",
    response_model=Page[LegacyInvitationRead],
    summary="List a legacy's invitations (owners)",
    responses=error_responses(LegacyNotFound),
)
async def list_invitations(
    legacy_id: UUID, session: TenantSession, subject: CurrentSubject, page: PageParams
) -> Page[LegacyInvitationRead]:
    rows = await service.list_invitations(
        session, subject=subject, legacy_id=legacy_id, after=page.after, limit=page.limit + 1
    )
    return page.page(rows, LegacyInvitationRead.model_validate, lambda invitation: invitation.id)


@router.delete(
    "/legacies/{legacy_id}/invitations/{invitation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an invitation (owners)",
    responses=error_responses(
        LegacyNotFound, LegacyInvitationNotFound, LegacyInvitationAlreadyAccepted
    ),
)
async def revoke_invitation(
    legacy_id: UUID,
    invitation_id: UUID,
    request: Request,
    session: TenantSession,
    subject: CurrentSubject,
) -> Response:
    await service.revoke(
        session,
        subject=subject,
        legacy_id=legacy_id,
        invitation_id=invitation_id,
        provenance=Provenance.of(subject.principal, request),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/legacy-invitations/accept",
    response_model=LegacyMemberRead,
    summary="Accept an invitation: join its legacy",
    responses=error_responses(
        LegacyInvitationNotFound,
        LegacyInvitationExpired,
        LegacyInvitationUsed,
        LegacyInvitationRevoked,
        AlreadyLegacyMember,
        NotAUser,
    ),
)
async def accept_invitation(
    data: LegacyInvitationAccept, request: Request, session: TenantSession, subject: CurrentSubject
) -> LegacyMemberRead:
    row = await service.accept(
        session,
        subject=subject,
        token=data.token,
        provenance=Provenance.of(subject.principal, request),
    )
    return member_read(row)
