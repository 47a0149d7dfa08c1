"""What the notification mails need to know, read within the event's tenant.

Every query names the tenant explicitly, so a consumer is correct whether the worker runs it
with the tenant bound (row-level security) or as the owner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.models import (
    FlagReason,
    FlagState,
    Legacy,
    LegacyMember,
    MembershipState,
    ScopeRole,
    Story,
    StoryFlag,
    TenantMembership,
    User,
    UserStatus,
)


@dataclass(frozen=True)
class Recipient:
    """Someone to mail: the address and the name to greet."""

    user_id: UUID
    email: str
    name: str


@dataclass(frozen=True)
class FlaggedStory:
    title: str
    legacy_name: str
    reason: FlagReason
    flagged_by: UUID | None


async def legacy_name(session: AsyncSession, *, tenant_id: UUID, legacy_id: UUID) -> str | None:
    """The legacy's name; None if it is unknown in this tenant or deleted."""
    found: str | None = await session.scalar(
        select(Legacy.name).where(
            Legacy.tenant_id == tenant_id, Legacy.id == legacy_id, Legacy.deleted_at.is_(None)
        )
    )
    return found


async def active_user(session: AsyncSession, user_id: UUID) -> Recipient | None:
    user = await session.get(User, user_id)
    if user is None or user.status is not UserStatus.ACTIVE:
        return None
    return Recipient(user_id=user.id, email=user.email, name=user.display_name)


async def legacy_member(
    session: AsyncSession, *, tenant_id: UUID, legacy_id: UUID, user_id: UUID
) -> LegacyMember | None:
    found: LegacyMember | None = await session.scalar(
        select(LegacyMember).where(
            LegacyMember.tenant_id == tenant_id,
            LegacyMember.legacy_id == legacy_id,
            LegacyMember.user_id == user_id,
        )
    )
    return found


async def legacy_owners(
    session: AsyncSession, *, tenant_id: UUID, legacy_id: UUID
) -> Sequence[Recipient]:
    """The legacy's active owners with active accounts, in a stable order."""
    rows = await session.execute(
        select(User.id, User.email, User.display_name)
        .join(LegacyMember, LegacyMember.user_id == User.id)
        .where(
            LegacyMember.tenant_id == tenant_id,
            LegacyMember.legacy_id == legacy_id,
            LegacyMember.role == ScopeRole.OWNER,
            LegacyMember.state == MembershipState.ACTIVE,
            User.status == UserStatus.ACTIVE,
        )
        .order_by(User.id)
    )
    return [Recipient(user_id=id_, email=email, name=name) for id_, email, name in rows]


async def tenant_moderators(session: AsyncSession, *, tenant_id: UUID) -> Sequence[Recipient]:
    """The tenant's active owners and editors with active accounts: who reviews flags."""
    rows = await session.execute(
        select(User.id, User.email, User.display_name)
        .join(TenantMembership, TenantMembership.user_id == User.id)
        .where(
            TenantMembership.tenant_id == tenant_id,
            TenantMembership.role.in_([ScopeRole.OWNER, ScopeRole.EDITOR]),
            TenantMembership.state == MembershipState.ACTIVE,
            User.status == UserStatus.ACTIVE,
        )
        .order_by(User.id)
    )
    return [Recipient(user_id=id_, email=email, name=name) for id_, email, name in rows]


async def open_flag(
    session: AsyncSession, *, tenant_id: UUID, story_id: UUID, flag_id: UUID
) -> FlaggedStory | None:
    """The flag if it is still open, with its story and legacy; None otherwise."""
    row = (
        await session.execute(
            select(Story.title, Legacy.name, StoryFlag.reason, StoryFlag.flagged_by)
            .join(Story, Story.id == StoryFlag.story_id)
            .join(Legacy, Legacy.id == Story.legacy_id)
            .where(
                StoryFlag.tenant_id == tenant_id,
                StoryFlag.id == flag_id,
                StoryFlag.story_id == story_id,
                StoryFlag.state == FlagState.OPEN,
                Story.tenant_id == tenant_id,
                Story.deleted_at.is_(None),
                Legacy.tenant_id == tenant_id,
                Legacy.deleted_at.is_(None),
            )
        )
    ).one_or_none()
    if row is None:
        return None
    title, legacy, reason, flagged_by = row
    return FlaggedStory(title=title, legacy_name=legacy, reason=reason, flagged_by=flagged_by)
