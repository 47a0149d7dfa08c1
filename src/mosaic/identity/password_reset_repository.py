"""Queries of password reset: the tokens table (global, like every credential table)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.models import PasswordResetToken


async def delete_unused_tokens(session: AsyncSession, user_id: UUID, *, now: datetime) -> int:
    """Drop the user's unused tokens (a new request supersedes them) and their expired ones."""
    result = await session.execute(
        delete(PasswordResetToken).where(
            PasswordResetToken.user_id == user_id,
            or_(PasswordResetToken.used_at.is_(None), PasswordResetToken.expires_at <= now),
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def find_token(session: AsyncSession, token_hash: str) -> PasswordResetToken | None:
    statement = select(PasswordResetToken).where(PasswordResetToken.token_hash == token_hash)
    return (await session.execute(statement)).scalar_one_or_none()


async def claim_token(session: AsyncSession, token_id: UUID, *, now: datetime) -> UUID | None:
    """Mark an unused, unexpired token used; its user, or ``None`` if another claim won.

    A single conditional ``UPDATE``: a concurrent claim waits for the row lock, then finds
    ``used_at`` set and matches nothing, so a token works exactly once.
    """
    result = await session.execute(
        update(PasswordResetToken)
        .where(
            PasswordResetToken.id == token_id,
            PasswordResetToken.used_at.is_(None),
            PasswordResetToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(PasswordResetToken.user_id)
    )
    user_id: UUID | None = result.scalar_one_or_none()
    return user_id
