"""Invitations to a legacy: by email (mailed, for that address only) or as a link (anyone in
the tenant who holds it). Single use and expiring; only the token's hash is stored."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic import authz, events
from mosaic.authz import Action, LegacyInvitationResource, ResourceKind, Subject
from mosaic.core.ids import new_id
from mosaic.core.mail import MailMessage
from mosaic.core.provenance import Provenance
from mosaic.identity.errors import NotAUser
from mosaic.legacies import repository
from mosaic.legacies.errors import (
    AlreadyLegacyMember,
    LegacyInvitationAlreadyAccepted,
    LegacyInvitationExpired,
    LegacyInvitationNotFound,
    LegacyInvitationRevoked,
    LegacyInvitationUsed,
    LegacyNotFound,
)
from mosaic.legacies.events import LegacyInvitationAccepted, LegacyInvitationCreated, MemberJoined
from mosaic.legacies.member_service import stamp
from mosaic.legacies.repository import MemberRow
from mosaic.legacies.schemas import LegacyInvitationCreate
from mosaic.legacies.service import actor_of, find
from mosaic.models import Legacy, LegacyInvitation, LegacyMember, MembershipState

logger = structlog.get_logger(__name__)

TOKEN_BYTES = 32  # 256 bits
# The web app's page that reads ``?token=`` and POSTs it to /api/v1/legacy-invitations/accept.
ACCEPT_PAGE = "/legacy-invitations/accept"
ACCEPT_PATH = "/api/v1/legacy-invitations/accept"


def hash_token(token: str) -> str:
    """SHA-256 of a token: tokens are 256-bit random, so a fast hash is enough."""
    return hashlib.sha256(token.encode()).hexdigest()


async def _authorized_legacy(
    session: AsyncSession,
    *,
    subject: Subject,
    legacy_id: UUID,
    action: Action,
    email: str | None = None,
) -> Legacy:
    await authz.authorize_kind(subject, action, ResourceKind.LEGACY_INVITATION)
    legacy = await find(session, legacy_id)
    if legacy is None:
        raise LegacyNotFound()
    resource = LegacyInvitationResource(legacy.tenant_id, legacy.id, email=email)
    await authz.authorize(session, subject, action, resource)
    return legacy


async def create(
    session: AsyncSession,
    *,
    subject: Subject,
    legacy_id: UUID,
    data: LegacyInvitationCreate,
    link_base: str,
    provenance: Provenance,
) -> tuple[LegacyInvitation, str, MailMessage | None]:
    """Invite to a legacy; returns the invitation, its token (shown this once) and, for an
    email invitation, the mail to send with a link to the web app's accept page.

    The caller sends the mail once the transaction has committed: an invitation that was
    never stored must not reach anyone's inbox."""
    legacy = await _authorized_legacy(
        session, subject=subject, legacy_id=legacy_id, action=Action.CREATE, email=data.email
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    ttl = timedelta(hours=data.expires_in_hours)
    invitation = LegacyInvitation(
        id=new_id(),
        tenant_id=legacy.tenant_id,
        legacy_id=legacy.id,
        email=data.email,
        role=data.role,
        token_hash=hash_token(token),
        invited_by=subject.user_id,
        expires_at=datetime.now(UTC) + ttl,
        **provenance.columns(),
    )
    session.add(invitation)
    await session.flush()
    await session.refresh(invitation)
    await events.record(
        session,
        LegacyInvitationCreated(
            tenant_id=legacy.tenant_id,
            resource_id=invitation.id,
            invitation_id=invitation.id,
            legacy_id=legacy.id,
            role=invitation.role,
            by_email=invitation.email is not None,
        ),
        actor_id=actor_of(subject),
    )
    mail = None
    if invitation.email is not None:
        link = f"{link_base}{ACCEPT_PAGE}?token={token}"
        mail = _invitation_mail(to=invitation.email, legacy=legacy, link=link, ttl=ttl)
    # Never the token nor the link: either one joins the legacy.
    logger.info("legacy_invitation_created", invitation_id=str(invitation.id))
    return invitation, token, mail


def _invitation_mail(*, to: str, legacy: Legacy, link: str, ttl: timedelta) -> MailMessage:
    days = max(1, int(ttl.total_seconds() // 86400))
    body = (
        f"You are invited to join the legacy of {legacy.name} on Mosaic, to read and share "
        "the stories of their life.\n\n"
        f"Accept the invitation here within {days} day(s):\n\n{link}\n\n"
        "The link works once and only for this email address. If you did not expect it, "
        "ignore this message.\n"
    )
    return MailMessage(to=to, subject=f"Join the legacy of {legacy.name} on Mosaic", body=body)


async def list_invitations(
    session: AsyncSession, *, subject: Subject, legacy_id: UUID, after: UUID | None, limit: int
) -> Sequence[LegacyInvitation]:
    legacy = await _authorized_legacy(
        session, subject=subject, legacy_id=legacy_id, action=Action.LIST
    )
    visible = await authz.read_filter(subject, repository.INVITATION_ROWS)
    return await repository.list_invitations(
        session, legacy_id=legacy.id, visible=visible, after=after, limit=limit
    )


async def revoke(
    session: AsyncSession,
    *,
    subject: Subject,
    legacy_id: UUID,
    invitation_id: UUID,
    provenance: Provenance,
) -> None:
    """Revoke an invitation; revoking it again changes nothing, an accepted one is 409."""
    legacy = await _authorized_legacy(
        session, subject=subject, legacy_id=legacy_id, action=Action.DELETE
    )
    invitation = await repository.get_invitation(session, legacy.id, invitation_id, for_update=True)
    if invitation is None:
        raise LegacyInvitationNotFound()
    if invitation.accepted_at is not None:
        raise LegacyInvitationAlreadyAccepted()
    if invitation.revoked_at is None:
        invitation.revoked_at = datetime.now(UTC)
        stamp(invitation, provenance)
        await session.flush()
        logger.info("legacy_invitation_revoked", invitation_id=str(invitation.id))


async def accept(
    session: AsyncSession, *, subject: Subject, token: str, provenance: Provenance
) -> MemberRow:
    """Join the invitation's legacy in its role.

    Single use: accepting again as the same user returns the same membership (a retry after
    a lost response); anyone else gets 410. A pending request to join is approved by it.
    """
    await authz.authorize_kind(subject, Action.ACCEPT, ResourceKind.LEGACY_INVITATION)
    if subject.user_id is None:
        raise NotAUser()
    # Row-level security: a token of another tenant's legacy finds nothing (404).
    invitation = await repository.find_invitation_by_hash(
        session, hash_token(token), for_update=True
    )
    legacy = await find(session, invitation.legacy_id) if invitation is not None else None
    if invitation is None or legacy is None:
        raise LegacyInvitationNotFound()
    resource = LegacyInvitationResource(
        invitation.tenant_id, legacy.id, invitation.id, email=invitation.email
    )
    await authz.authorize(session, subject, Action.ACCEPT, resource)
    if invitation.accepted_at is not None:
        if invitation.accepted_by == subject.user_id:
            return await _membership(session, legacy.id, subject.user_id)
        raise LegacyInvitationUsed()
    if invitation.revoked_at is not None:
        raise LegacyInvitationRevoked()
    if invitation.expires_at <= datetime.now(UTC):
        raise LegacyInvitationExpired()
    now = datetime.now(UTC)
    existing = await repository.get_member(session, legacy.id, subject.user_id, for_update=True)
    if existing is None:
        session.add(
            LegacyMember(
                tenant_id=legacy.tenant_id,
                legacy_id=legacy.id,
                user_id=subject.user_id,
                role=invitation.role,
                state=MembershipState.ACTIVE,
                joined_at=now,
                approved_by=invitation.invited_by,
                **provenance.columns(),
            )
        )
    elif existing[0].state is MembershipState.PENDING:
        # Asking to join and being invited are the same wish: the invitation approves it.
        membership = existing[0]
        membership.state, membership.role = MembershipState.ACTIVE, invitation.role
        membership.joined_at, membership.approved_by = now, invitation.invited_by
        stamp(membership, provenance)
    else:
        raise AlreadyLegacyMember()
    invitation.accepted_at, invitation.accepted_by = now, subject.user_id
    stamp(invitation, provenance)
    await session.flush()
    common = {"tenant_id": legacy.tenant_id, "role": invitation.role}
    await events.record(
        session,
        LegacyInvitationAccepted(
            **common,
            resource_id=invitation.id,
            invitation_id=invitation.id,
            legacy_id=legacy.id,
            user_id=subject.user_id,
        ),
        actor_id=actor_of(subject),
    )
    await events.record(
        session,
        MemberJoined(**common, resource_id=legacy.id, user_id=subject.user_id, via="invitation"),
        actor_id=actor_of(subject),
    )
    subject.memo.clear()
    return await _membership(session, legacy.id, subject.user_id)


async def _membership(session: AsyncSession, legacy_id: UUID, user_id: UUID) -> MemberRow:
    row = await repository.get_member(session, legacy_id, user_id)
    assert row is not None, "accepted without a membership"
    return row
