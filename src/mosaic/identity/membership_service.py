"""Rules of tenant membership: listing members, changing roles, removing and leaving, and
invitations (create, revoke, accept). Every decision goes through the policy."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic import authz
from mosaic.authz import Action, InvitationResource, MembershipResource, ResourceKind, Subject
from mosaic.core.errors import MosaicError
from mosaic.core.ids import new_id
from mosaic.events import record as record_event
from mosaic.identity import audit
from mosaic.identity import membership_repository as repository
from mosaic.identity.audit import AuditAction, AuditRecord, Origin
from mosaic.identity.errors import (
    AlreadyMember,
    InvitationAlreadyAccepted,
    InvitationExpired,
    InvitationNotFound,
    InvitationRevoked,
    InvitationUsed,
    LastOwner,
    MemberNotFound,
)
from mosaic.identity.events import (
    TenantInvitationAccepted,
    TenantInvitationCreated,
    TenantInvitationRevoked,
    TenantMemberJoined,
    TenantMemberRemoved,
    TenantMemberRoleChanged,
    actor_of,
)
from mosaic.identity.membership_repository import InvitationLookup, MemberRow
from mosaic.identity.membership_schemas import InvitationCreate
from mosaic.models import MembershipState, ScopeRole, TenantInvitation, TenantMembership

logger = structlog.get_logger(__name__)

_TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    """SHA-256 of an invitation token: tokens are 256-bit random, a fast hash is enough."""
    return hashlib.sha256(token.encode()).hexdigest()


# Members


async def list_members(
    session: AsyncSession, *, subject: Subject, after: UUID | None, limit: int
) -> Sequence[MemberRow]:
    """The members ``subject`` may see, in user id order."""
    visible = await authz.read_filter(subject, repository.MEMBERSHIP_ROWS)
    return await repository.list_members(session, visible=visible, after=after, limit=limit)


async def get_member(
    session: AsyncSession,
    *,
    subject: Subject,
    user_id: UUID,
    action: Action = Action.READ,
    for_update: bool = False,
) -> MemberRow:
    """A member of the bound tenant that ``subject`` may ``action`` (404 when there is none)."""
    await authz.authorize_kind(subject, action, ResourceKind.MEMBERSHIP)
    row = await repository.get_member(session, user_id, for_update=for_update)
    if row is None:
        raise MemberNotFound()
    await authz.authorize(session, subject, action, MembershipResource(subject.tenant_id, user_id))
    return row


async def change_role(
    session: AsyncSession, *, subject: Subject, user_id: UUID, role: ScopeRole, origin: Origin
) -> MemberRow:
    """Give a member another role; the last active owner cannot be demoted."""
    row = await get_member(
        session, subject=subject, user_id=user_id, action=Action.UPDATE, for_update=True
    )
    membership = row[0]
    previous = membership.role
    if previous is not role:
        await _keep_an_owner(session, membership)
        membership.role = role
        await session.flush()
        await _audit(
            session,
            AuditAction.ROLE_CHANGED,
            subject=subject,
            tenant_id=membership.tenant_id,
            target=f"user:{user_id}",
            origin=origin,
            details={"from": previous.value, "to": role.value},
        )
        await record_event(
            session,
            TenantMemberRoleChanged(
                tenant_id=membership.tenant_id,
                resource_id=user_id,
                previous_role=previous,
                role=role,
            ),
            actor_id=actor_of(subject.principal),
        )
        # The subject may have changed their own role: decide afresh from here on.
        subject.memo.clear()
    return row


async def remove_member(
    session: AsyncSession, *, subject: Subject, user_id: UUID, origin: Origin
) -> None:
    """Remove a member (or leave, when ``user_id`` is the subject's); not the last owner."""
    row = await get_member(
        session, subject=subject, user_id=user_id, action=Action.DELETE, for_update=True
    )
    membership = row[0]
    await _keep_an_owner(session, membership)
    await repository.delete_member(session, user_id)
    await _audit(
        session,
        AuditAction.MEMBER_REMOVED,
        subject=subject,
        tenant_id=membership.tenant_id,
        target=f"user:{user_id}",
        origin=origin,
        details={"role": membership.role.value, "left": user_id == subject.user_id},
    )
    await record_event(
        session,
        TenantMemberRemoved(
            tenant_id=membership.tenant_id,
            resource_id=user_id,
            role=membership.role,
            left=user_id == subject.user_id,
        ),
        actor_id=actor_of(subject.principal),
    )
    subject.memo.clear()


async def _keep_an_owner(session: AsyncSession, membership: TenantMembership) -> None:
    if membership.role is not ScopeRole.OWNER or membership.state is not MembershipState.ACTIVE:
        return
    owners = await repository.lock_active_owners(session)
    if owners == [membership.user_id]:
        raise LastOwner()


async def _audit(
    session: AsyncSession,
    action: AuditAction,
    *,
    subject: Subject,
    tenant_id: UUID,
    target: str,
    origin: Origin,
    details: dict[str, object],
) -> None:
    await audit.record(
        session,
        AuditRecord(
            action=action,
            tenant_id=tenant_id,
            actor_user_id=subject.user_id,
            actor=subject.principal.key,
            subject=target,
            origin=origin,
            details=details,
        ),
    )


# Invitations


async def create_invitation(
    session: AsyncSession, *, subject: Subject, data: InvitationCreate, origin: Origin
) -> tuple[TenantInvitation, str]:
    """Invite ``data.email``; returns the invitation and its token (shown once)."""
    resource = InvitationResource(subject.tenant_id, email=data.email)
    await authz.authorize(session, subject, Action.CREATE, resource)
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    invitation = TenantInvitation(
        id=new_id(),
        tenant_id=subject.tenant_id,
        email=data.email,
        role=data.role,
        token_hash=hash_token(token),
        invited_by=subject.user_id,
        expires_at=datetime.now(UTC) + timedelta(hours=data.expires_in_hours),
    )
    session.add(invitation)
    await session.flush()
    await session.refresh(invitation)
    await _audit(
        session,
        AuditAction.INVITATION_CREATED,
        subject=subject,
        tenant_id=subject.tenant_id,
        target=f"invitation:{invitation.id}",
        origin=origin,
        details={"email": data.email, "role": data.role.value},
    )
    await record_event(
        session,
        TenantInvitationCreated(
            tenant_id=invitation.tenant_id,
            resource_id=invitation.id,
            invitation_id=invitation.id,
            role=invitation.role,
        ),
        actor_id=actor_of(subject.principal),
    )
    return invitation, token


async def list_invitations(
    session: AsyncSession, *, subject: Subject, after: UUID | None, limit: int
) -> Sequence[TenantInvitation]:
    visible = await authz.read_filter(subject, repository.INVITATION_ROWS)
    return await repository.list_invitations(session, visible=visible, after=after, limit=limit)


async def get_invitation(
    session: AsyncSession,
    *,
    subject: Subject,
    invitation_id: UUID,
    action: Action = Action.READ,
    for_update: bool = False,
) -> TenantInvitation:
    await authz.authorize_kind(subject, action, ResourceKind.INVITATION)
    invitation = await repository.get_invitation(session, invitation_id, for_update=for_update)
    if invitation is None:
        raise InvitationNotFound()
    resource = InvitationResource(invitation.tenant_id, invitation.id, email=invitation.email)
    await authz.authorize(session, subject, action, resource)
    return invitation


async def revoke_invitation(
    session: AsyncSession, *, subject: Subject, invitation_id: UUID, origin: Origin
) -> None:
    """Revoke an invitation; revoking a revoked one changes nothing, an accepted one is 409."""
    invitation = await get_invitation(
        session, subject=subject, invitation_id=invitation_id, action=Action.DELETE, for_update=True
    )
    if invitation.accepted_at is not None:
        raise InvitationAlreadyAccepted()
    if invitation.revoked_at is None:
        invitation.revoked_at = datetime.now(UTC)
        await session.flush()
        logger.info("invitation_revoked", invitation_id=str(invitation.id))
        await record_event(
            session,
            TenantInvitationRevoked(
                tenant_id=invitation.tenant_id,
                resource_id=invitation.id,
                invitation_id=invitation.id,
                role=invitation.role,
            ),
            actor_id=actor_of(subject.principal),
        )


async def find_invitation(session: AsyncSession, *, token: str) -> InvitationLookup:
    """The invitation a token stands for, in any tenant (404 for a token nobody issued)."""
    found = await repository.find_invitation(session, hash_token(token))
    if found is None:
        raise InvitationNotFound()
    return found


async def accept_invitation(
    session: AsyncSession, *, subject: Subject, invitation: InvitationLookup, origin: Origin
) -> MemberRow:
    """Join the invitation's tenant; the session must be bound to that tenant already.

    The invitation is single use: accepting it again as the same user returns the same
    membership (a retry after a lost response), anyone else gets 410.
    """
    resource = InvitationResource(invitation.tenant_id, invitation.id, email=invitation.email)
    await authz.authorize(session, subject, Action.ACCEPT, resource)
    assert subject.user_id is not None  # the addressee is a user: the policy checked
    row = await repository.get_invitation(session, invitation.id, for_update=True)
    if row is None:  # revoked and deleted in between
        raise InvitationNotFound()
    if row.accepted_at is not None:
        if row.accepted_by == subject.user_id:
            return await _membership_of(session, subject.user_id)
        raise InvitationUsed()
    if row.revoked_at is not None:
        raise InvitationRevoked()
    if row.expires_at <= datetime.now(UTC):
        raise InvitationExpired()
    existing = await repository.get_member(session, subject.user_id, for_update=True)
    if existing is None:
        session.add(
            TenantMembership(tenant_id=row.tenant_id, user_id=subject.user_id, role=row.role)
        )
    elif existing[0].state is MembershipState.PENDING:
        # Asking to join and being invited are the same wish: the invitation approves it.
        existing[0].state, existing[0].role = MembershipState.ACTIVE, row.role
    else:
        raise AlreadyMember()
    row.accepted_at, row.accepted_by = datetime.now(UTC), subject.user_id
    await session.flush()
    await _audit(
        session,
        AuditAction.INVITATION_ACCEPTED,
        subject=subject,
        tenant_id=row.tenant_id,
        target=f"invitation:{row.id}",
        origin=origin,
        details={"role": row.role.value},
    )
    await _record_accepted(
        session,
        tenant_id=row.tenant_id,
        invitation_id=row.id,
        user_id=subject.user_id,
        role=row.role,
        actor_id=actor_of(subject.principal),
    )
    return await _membership_of(session, subject.user_id)


async def _record_accepted(
    session: AsyncSession,
    *,
    tenant_id: UUID,
    invitation_id: UUID,
    user_id: UUID,
    role: ScopeRole,
    actor_id: str,
) -> None:
    """An accepted invitation is two facts: the invitation is spent, the user joined."""
    await record_event(
        session,
        TenantInvitationAccepted(
            tenant_id=tenant_id,
            resource_id=invitation_id,
            invitation_id=invitation_id,
            role=role,
            user_id=user_id,
        ),
        actor_id=actor_id,
    )
    await record_event(
        session,
        TenantMemberJoined(tenant_id=tenant_id, resource_id=user_id, role=role, via="invitation"),
        actor_id=actor_id,
    )


async def _membership_of(session: AsyncSession, user_id: UUID) -> MemberRow:
    row = await repository.get_member(session, user_id)
    if row is None:
        raise MemberNotFound()
    return row


@dataclass(frozen=True)
class JoinedByInvitation:
    """The tenant and role an invitation token gave a user who had no tenant bound."""

    invitation_id: UUID
    tenant_id: UUID
    role: ScopeRole


_REFUSALS: dict[str, type[MosaicError]] = {
    "not_found": InvitationNotFound,
    "used": InvitationUsed,
    "revoked": InvitationRevoked,
    "expired": InvitationExpired,
    "already_member": AlreadyMember,
}


async def accept_invitation_token(
    session: AsyncSession, *, user_id: UUID, token: str, origin: Origin
) -> JoinedByInvitation:
    """Accept an invitation by token for ``user_id``, no tenant bound (sign-up, login)."""
    # The token proves the user received the mail sent to the invitation's address, which
    # must be theirs. One definer call locks, checks and accepts, so it cannot be spent twice;
    # the same user accepting again gets the same answer (a retry after a lost response).
    result = await repository.accept_invitation_by_hash(
        session, token_hash=hash_token(token), user_id=user_id
    )
    refusal = _REFUSALS.get(result.outcome)
    if refusal is not None:
        raise refusal()
    # Only an accepted (or re-accepted) invitation comes back with its tenant and role.
    assert result.invitation_id is not None
    assert result.tenant_id is not None
    assert result.role is not None
    joined = JoinedByInvitation(
        invitation_id=result.invitation_id,
        tenant_id=result.tenant_id,
        role=ScopeRole(result.role),
    )
    if result.outcome == "accepted":
        await audit.record(
            session,
            AuditRecord(
                action=AuditAction.INVITATION_ACCEPTED,
                tenant_id=joined.tenant_id,
                actor_user_id=user_id,
                subject=f"invitation:{joined.invitation_id}",
                origin=origin,
                details={"role": joined.role.value, "via": "token"},
            ),
        )
        logger.info("invitation_accepted", invitation_id=str(joined.invitation_id))
        await _record_accepted(
            session,
            tenant_id=joined.tenant_id,
            invitation_id=joined.invitation_id,
            user_id=user_id,
            role=joined.role,
            actor_id=str(user_id),
        )
    return joined
