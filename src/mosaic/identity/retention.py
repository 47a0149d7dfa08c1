"""Retention of identity's short-lived rows: what the scheduler deletes, and why it may.

Each function deletes across every tenant (the scheduler runs them as the database owner),
returns how many rows went, and never deletes a row the sign-in flows still need to decide
something.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Delete

from mosaic.models import (
    BrowserSession,
    OidcLogin,
    PasswordResetToken,
    RefreshToken,
    TenantInvitation,
)

# An expired invitation stays listed this long, so the tenant's owners can see it lapsed
# (and invite again) before it disappears.
EXPIRED_INVITATION_RETENTION = timedelta(days=30)


async def purge_refresh_tokens(session: AsyncSession, *, now: datetime) -> int:
    """Delete the tokens of families whose every token has expired.

    A used token is kept while its family lives: presenting it again is how a stolen token is
    detected (the family is revoked). Once the newest token of a family has expired, no
    member of it can do anything any more.
    """
    dead_families = (
        select(RefreshToken.family_id)
        .group_by(RefreshToken.family_id)
        .having(func.max(RefreshToken.expires_at) <= now)
    )
    return await _deleted(
        session, delete(RefreshToken).where(RefreshToken.family_id.in_(dead_families))
    )


async def purge_browser_sessions(session: AsyncSession, *, now: datetime) -> int:
    """Delete expired and signed-out sessions: their cookies authenticate nothing."""
    return await _deleted(
        session,
        delete(BrowserSession).where(
            or_(BrowserSession.expires_at <= now, BrowserSession.revoked_at.is_not(None))
        ),
    )


async def purge_oidc_logins(session: AsyncSession, *, now: datetime) -> int:
    """Delete sign-ins that were started but never came back before they expired."""
    return await _deleted(session, delete(OidcLogin).where(OidcLogin.expires_at <= now))


async def purge_password_reset_tokens(session: AsyncSession, *, now: datetime) -> int:
    """Delete used and expired reset tokens: neither resets anything any more."""
    return await _deleted(
        session,
        delete(PasswordResetToken).where(
            or_(PasswordResetToken.used_at.is_not(None), PasswordResetToken.expires_at <= now)
        ),
    )


async def purge_tenant_invitations(session: AsyncSession, *, now: datetime) -> int:
    """Delete invitations that lapsed unaccepted more than a retention period ago.

    Accepted invitations stay: they record who brought whom into the tenant.
    """
    return await _deleted(
        session,
        delete(TenantInvitation).where(
            TenantInvitation.accepted_at.is_(None),
            TenantInvitation.expires_at <= now - EXPIRED_INVITATION_RETENTION,
        ),
    )


async def _deleted(session: AsyncSession, statement: Delete) -> int:
    result = await session.execute(statement)
    return result.rowcount if isinstance(result, CursorResult) else 0
