"""Queries of tenant members and invitations (row-level security keeps them in the tenant)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, Row, Select, delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.authz import ResourceKind, RowColumns, ScopeKind
from mosaic.core.pagination import inline_limit
from mosaic.models import MembershipState, ScopeRole, TenantInvitation, TenantMembership, User

MEMBERSHIP_ROWS = RowColumns(
    kind=ResourceKind.MEMBERSHIP,
    scopes={ScopeKind.TENANT: TenantMembership.tenant_id},
    owner=TenantMembership.user_id,
)
INVITATION_ROWS = RowColumns(
    kind=ResourceKind.INVITATION, scopes={ScopeKind.TENANT: TenantInvitation.tenant_id}
)

MemberRow = Row[TenantMembership, str, str]


def _members() -> Select[TenantMembership, str, str]:
    return select(TenantMembership, User.email, User.display_name).join(
        User, User.id == TenantMembership.user_id
    )


async def list_members(
    session: AsyncSession, *, visible: ColumnElement[bool], after: UUID | None, limit: int
) -> Sequence[MemberRow]:
    """Members passing ``visible``, with their email and name, in user id order."""
    statement = (
        _members().where(visible).order_by(TenantMembership.user_id).limit(inline_limit(limit))
    )
    if after is not None:
        statement = statement.where(TenantMembership.user_id > after)
    return (await session.execute(statement)).all()


async def get_member(
    session: AsyncSession, user_id: UUID, *, for_update: bool = False
) -> MemberRow | None:
    statement = _members().where(TenantMembership.user_id == user_id)
    if for_update:
        statement = statement.with_for_update(of=TenantMembership)
    return (await session.execute(statement)).one_or_none()


async def lock_active_owners(session: AsyncSession) -> list[UUID]:
    """The tenant's active owners, locked: two owners demoting each other at once serialise
    here, so the last owner check cannot pass twice."""
    statement = (
        select(TenantMembership.user_id)
        .where(
            TenantMembership.role == ScopeRole.OWNER,
            TenantMembership.state == MembershipState.ACTIVE,
        )
        .with_for_update()
    )
    return list((await session.execute(statement)).scalars())


async def delete_member(session: AsyncSession, user_id: UUID) -> None:
    await session.execute(delete(TenantMembership).where(TenantMembership.user_id == user_id))


async def list_invitations(
    session: AsyncSession, *, visible: ColumnElement[bool], after: UUID | None, limit: int
) -> Sequence[TenantInvitation]:
    statement = (
        select(TenantInvitation)
        .where(visible)
        .order_by(TenantInvitation.id)
        .limit(inline_limit(limit))
    )
    if after is not None:
        statement = statement.where(TenantInvitation.id > after)
    return (await session.execute(statement)).scalars().all()


async def get_invitation(
    session: AsyncSession, invitation_id: UUID, *, for_update: bool = False
) -> TenantInvitation | None:
    return await session.get(TenantInvitation, invitation_id, with_for_update=for_update)


@dataclass(frozen=True)
class InvitationLookup:
    """An invitation found by its token, before its tenant is bound."""

    id: UUID
    tenant_id: UUID
    email: str
    role: str
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


async def find_invitation(session: AsyncSession, token_hash: str) -> InvitationLookup | None:
    """Look an invitation up by its token hash through the narrow security-definer function."""
    row = (
        await session.execute(
            text("SELECT * FROM mosaic_find_invitation(:hash)"), {"hash": token_hash}
        )
    ).one_or_none()
    return InvitationLookup(**row._mapping) if row is not None else None


@dataclass(frozen=True)
class AcceptOutcome:
    """What ``mosaic_accept_invitation`` did; the tenant and role only when it was accepted."""

    outcome: str
    invitation_id: UUID | None
    tenant_id: UUID | None
    role: str | None


async def accept_invitation_by_hash(
    session: AsyncSession, *, token_hash: str, user_id: UUID
) -> AcceptOutcome:
    """Accept an invitation for a user, atomically, without a bound tenant (definer function)."""
    row = (
        await session.execute(
            text("SELECT * FROM mosaic_accept_invitation(:hash, :member)"),
            {"hash": token_hash, "member": user_id},
        )
    ).one()
    return AcceptOutcome(
        outcome=row.outcome,
        invitation_id=row.invitation_id,
        tenant_id=row.joined_tenant,
        role=row.joined_role,
    )
