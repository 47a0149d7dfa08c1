"""Rules of legacy membership: asking to join, approving, changing roles, removing, leaving.

Authorization is decided on the path (legacy, user) before the membership row is read, so a
caller who may not manage members learns nothing about who has asked to join. Every write
that leaves a row behind (join, approve, role change) stores the request's provenance in it;
removing and leaving delete the row, so only their outbox event records the actor.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from mosaic import authz, events
from mosaic.authz import Action, LegacyMemberResource, ResourceKind, Subject
from mosaic.core.provenance import Provenance
from mosaic.identity.errors import NotAUser
from mosaic.legacies import repository
from mosaic.legacies.errors import (
    AlreadyLegacyMember,
    JoinAlreadyRequested,
    LastLegacyOwner,
    LegacyMemberNotFound,
    LegacyNotFound,
    NotPending,
)
from mosaic.legacies.events import (
    MemberJoined,
    MemberLeft,
    MemberRemoved,
    MemberRequested,
    MemberRoleChanged,
)
from mosaic.legacies.repository import MemberRow
from mosaic.legacies.service import actor_of, find
from mosaic.models import Legacy, LegacyInvitation, LegacyMember, MembershipState, ScopeRole

# The role a request to join turns into when an owner approves it without choosing one.
DEFAULT_ROLE = ScopeRole.CONTRIBUTOR


async def _authorized_legacy(
    session: AsyncSession,
    *,
    subject: Subject,
    legacy_id: UUID,
    action: Action,
    user_id: UUID | None,
) -> Legacy:
    """The live legacy (404 otherwise), once ``subject`` may ``action`` its member ``user_id``."""
    await authz.authorize_kind(subject, action, ResourceKind.LEGACY_MEMBER)
    legacy = await find(session, legacy_id)
    if legacy is None:
        raise LegacyNotFound()
    resource = LegacyMemberResource(legacy.tenant_id, legacy.id, user_id)
    await authz.authorize(session, subject, action, resource)
    return legacy


async def _member(
    session: AsyncSession, legacy_id: UUID, user_id: UUID, *, for_update: bool = False
) -> MemberRow:
    row = await repository.get_member(session, legacy_id, user_id, for_update=for_update)
    if row is None:
        raise LegacyMemberNotFound()
    return row


async def list_members(
    session: AsyncSession, *, subject: Subject, legacy_id: UUID, after: UUID | None, limit: int
) -> Sequence[MemberRow]:
    """The legacy's members (pending requests included) for its members; a pending requester
    sees only their own request; anyone else is refused."""
    await authz.authorize_kind(subject, Action.LIST, ResourceKind.LEGACY_MEMBER)
    legacy = await find(session, legacy_id)
    if legacy is None:
        raise LegacyNotFound()
    everyone = LegacyMemberResource(legacy.tenant_id, legacy.id)
    if not await authz.can(session, subject, Action.LIST, everyone):
        mine = (
            await repository.get_member(session, legacy.id, subject.user_id)
            if subject.user_id is not None
            else None
        )
        if mine is None:
            await authz.authorize(session, subject, Action.LIST, everyone)  # raises
    visible = await authz.read_filter(subject, repository.MEMBER_ROWS)
    return await repository.list_members(
        session, legacy_id=legacy.id, visible=visible, after=after, limit=limit
    )


async def request_to_join(
    session: AsyncSession, *, subject: Subject, legacy_id: UUID, provenance: Provenance
) -> MemberRow:
    """Ask to join: a pending membership that the legacy's owners approve or reject."""
    if subject.user_id is None:
        raise NotAUser()
    legacy = await _authorized_legacy(
        session, subject=subject, legacy_id=legacy_id, action=Action.CREATE, user_id=subject.user_id
    )
    existing = await repository.get_member(session, legacy.id, subject.user_id, for_update=True)
    if existing is not None:
        if existing[0].state is MembershipState.PENDING:
            raise JoinAlreadyRequested()
        raise AlreadyLegacyMember()
    session.add(
        LegacyMember(
            tenant_id=legacy.tenant_id,
            legacy_id=legacy.id,
            user_id=subject.user_id,
            role=DEFAULT_ROLE,
            state=MembershipState.PENDING,
            **provenance.columns(),
        )
    )
    await session.flush()
    await events.record(
        session,
        MemberRequested(tenant_id=legacy.tenant_id, resource_id=legacy.id, user_id=subject.user_id),
        actor_id=actor_of(subject),
    )
    subject.memo.clear()
    return await _member(session, legacy.id, subject.user_id)


async def approve(
    session: AsyncSession,
    *,
    subject: Subject,
    legacy_id: UUID,
    user_id: UUID,
    role: ScopeRole,
    provenance: Provenance,
) -> MemberRow:
    """Turn a pending request into an active membership in ``role``."""
    legacy = await _authorized_legacy(
        session, subject=subject, legacy_id=legacy_id, action=Action.UPDATE, user_id=user_id
    )
    row = await _member(session, legacy.id, user_id, for_update=True)
    membership = row[0]
    if membership.state is not MembershipState.PENDING:
        raise NotPending()
    membership.state, membership.role = MembershipState.ACTIVE, role
    membership.joined_at, membership.approved_by = datetime.now(UTC), subject.user_id
    stamp(membership, provenance)
    await session.flush()
    await events.record(
        session,
        MemberJoined(
            tenant_id=legacy.tenant_id,
            resource_id=legacy.id,
            user_id=user_id,
            role=role,
            via="approved",
        ),
        actor_id=actor_of(subject),
    )
    subject.memo.clear()
    return await _member(session, legacy.id, user_id)


async def change_role(
    session: AsyncSession,
    *,
    subject: Subject,
    legacy_id: UUID,
    user_id: UUID,
    role: ScopeRole,
    provenance: Provenance,
) -> MemberRow:
    """Give a member another role; the last active owner cannot be demoted (409)."""
    legacy = await _authorized_legacy(
        session, subject=subject, legacy_id=legacy_id, action=Action.UPDATE, user_id=user_id
    )
    row = await _member(session, legacy.id, user_id, for_update=True)
    membership = row[0]
    previous = membership.role
    if previous is not role:
        await _keep_an_owner(session, membership)
        membership.role = role
        stamp(membership, provenance)
        await session.flush()
        await events.record(
            session,
            MemberRoleChanged(
                tenant_id=legacy.tenant_id,
                resource_id=legacy.id,
                user_id=user_id,
                previous_role=previous,
                role=role,
            ),
            actor_id=actor_of(subject),
        )
        subject.memo.clear()  # the subject may have changed their own role
    return await _member(session, legacy.id, user_id)


async def remove(
    session: AsyncSession, *, subject: Subject, legacy_id: UUID, user_id: UUID
) -> None:
    """Remove a member or reject a pending request; when ``user_id`` is the subject's own,
    this is leaving. The last active owner can do neither (409)."""
    legacy = await _authorized_legacy(
        session, subject=subject, legacy_id=legacy_id, action=Action.DELETE, user_id=user_id
    )
    row = await _member(session, legacy.id, user_id, for_update=True)
    membership = row[0]
    await _keep_an_owner(session, membership)
    await repository.delete_member(session, legacy.id, user_id)
    event: MemberLeft | MemberRemoved
    if user_id == subject.user_id:
        event = MemberLeft(
            tenant_id=legacy.tenant_id, resource_id=legacy.id, user_id=user_id, role=membership.role
        )
    else:
        event = MemberRemoved(
            tenant_id=legacy.tenant_id,
            resource_id=legacy.id,
            user_id=user_id,
            role=membership.role,
            was_pending=membership.state is MembershipState.PENDING,
        )
    await events.record(session, event, actor_id=actor_of(subject))
    subject.memo.clear()


async def leave(session: AsyncSession, *, subject: Subject, legacy_id: UUID) -> None:
    """Leave a legacy (or withdraw one's own request to join)."""
    if subject.user_id is None:
        raise NotAUser()
    await remove(session, subject=subject, legacy_id=legacy_id, user_id=subject.user_id)


def stamp(row: LegacyMember | LegacyInvitation, provenance: Provenance) -> None:
    """Record ``provenance`` as the last write's in a membership or invitation row."""
    for column, value in provenance.columns().items():
        setattr(row, column, value)


async def _keep_an_owner(session: AsyncSession, membership: LegacyMember) -> None:
    if membership.role is not ScopeRole.OWNER or membership.state is not MembershipState.ACTIVE:
        return
    owners = await repository.lock_active_owners(session, membership.legacy_id)
    if owners == [membership.user_id]:
        raise LastLegacyOwner()
