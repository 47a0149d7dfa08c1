"""Queries of OIDC sign-in: logins in flight, linked identities and browser sessions.

All three tables are global (no row-level security): they are read before any tenant is
bound, keyed by a hash only the holder of the secret can compute, or by the user's id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.pagination import inline_limit
from mosaic.models import BrowserSession, OidcLogin, UserIdentity

# Logins in flight


async def take_login(session: AsyncSession, state_hash: str) -> OidcLogin | None:
    """Remove and return the login with this state: a state is consumed exactly once."""
    statement = delete(OidcLogin).where(OidcLogin.state_hash == state_hash).returning(OidcLogin)
    return (await session.execute(statement)).scalar_one_or_none()


async def delete_expired_logins(session: AsyncSession, *, now: datetime) -> None:
    await session.execute(delete(OidcLogin).where(OidcLogin.expires_at <= now))


# Linked identities


async def find_identity(
    session: AsyncSession, *, provider: str, subject: str
) -> UserIdentity | None:
    statement = select(UserIdentity).where(
        UserIdentity.provider == provider, UserIdentity.subject == subject
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def identities_of(
    session: AsyncSession, user_id: UUID, *, after: UUID | None, limit: int
) -> Sequence[UserIdentity]:
    """A user's linked identities in id order."""
    statement = (
        select(UserIdentity)
        .where(UserIdentity.user_id == user_id)
        .order_by(UserIdentity.id)
        .limit(inline_limit(limit))
    )
    if after is not None:
        statement = statement.where(UserIdentity.id > after)
    return (await session.execute(statement)).scalars().all()


async def get_identity(session: AsyncSession, identity_id: UUID) -> UserIdentity | None:
    return await session.get(UserIdentity, identity_id)


async def count_identities(session: AsyncSession, user_id: UUID) -> int:
    statement = select(func.count()).where(UserIdentity.user_id == user_id)
    return int((await session.execute(statement)).scalar_one())


# Browser sessions


async def find_browser_session(session: AsyncSession, session_hash: str) -> BrowserSession | None:
    statement = select(BrowserSession).where(BrowserSession.session_hash == session_hash)
    return (await session.execute(statement)).scalar_one_or_none()


async def revoke_browser_session(session: AsyncSession, session_id: UUID, *, at: datetime) -> None:
    await session.execute(
        update(BrowserSession)
        .where(BrowserSession.id == session_id, BrowserSession.revoked_at.is_(None))
        .values(revoked_at=at)
    )


async def revoke_user_browser_sessions(
    session: AsyncSession, user_id: UUID, *, at: datetime
) -> int:
    result = await session.execute(
        update(BrowserSession)
        .where(BrowserSession.user_id == user_id, BrowserSession.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
