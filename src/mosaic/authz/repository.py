"""Queries of the policy module: what it needs to know about a subject's user."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.models import PlatformRole, User, UserStatus


@dataclass(frozen=True)
class UserStanding:
    platform_role: PlatformRole
    email: str
    disabled: bool


async def user_standing(session: AsyncSession, user_id: UUID) -> UserStanding | None:
    """A user's platform role, email and whether the account is disabled (users are global)."""
    row = (
        await session.execute(select(User.role, User.email, User.status).where(User.id == user_id))
    ).one_or_none()
    if row is None:
        return None
    return UserStanding(
        platform_role=row.role, email=row.email, disabled=row.status is UserStatus.DISABLED
    )
