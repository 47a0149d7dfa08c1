"""Subject access: what the identity tables hold about a user.

The account, its memberships of the credential's tenant, API keys (without their secrets),
sign-in sessions, refresh tokens, password resets, linked identities, invitations the user
sent or accepted, and the audit events by or about them.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.personal_data import Contributor, Sections, record_of, records_of
from mosaic.models import (
    ApiKey,
    AuditEvent,
    BrowserSession,
    PasswordResetToken,
    RefreshToken,
    TenantInvitation,
    TenantMembership,
    User,
    UserIdentity,
)


async def collect(session: AsyncSession, user_id: UUID) -> Sections:
    """The identity tables' rows about ``user_id`` (tenant-owned ones in the bound tenant)."""
    user = await session.get(User, user_id)
    email = user.email if user is not None else ""

    async def rows(statement: Select[Any]) -> list[Any]:
        return list((await session.scalars(statement)).all())

    return {
        "profile": [record_of(user)] if user is not None else [],
        "memberships": records_of(
            await rows(select(TenantMembership).where(TenantMembership.user_id == user_id))
        ),
        "api_keys": records_of(
            await rows(select(ApiKey).where(ApiKey.created_by == user_id).order_by(ApiKey.id))
        ),
        "browser_sessions": records_of(
            await rows(
                select(BrowserSession)
                .where(BrowserSession.user_id == user_id)
                .order_by(BrowserSession.id)
            )
        ),
        "refresh_tokens": records_of(
            await rows(
                select(RefreshToken)
                .where(RefreshToken.user_id == user_id)
                .order_by(RefreshToken.id)
            )
        ),
        "password_resets": records_of(
            await rows(
                select(PasswordResetToken)
                .where(PasswordResetToken.user_id == user_id)
                .order_by(PasswordResetToken.id)
            )
        ),
        "identities": records_of(
            await rows(
                select(UserIdentity)
                .where(UserIdentity.user_id == user_id)
                .order_by(UserIdentity.id)
            )
        ),
        "tenant_invitations": records_of(
            await rows(
                select(TenantInvitation)
                .where(
                    or_(
                        TenantInvitation.invited_by == user_id,
                        TenantInvitation.accepted_by == user_id,
                        TenantInvitation.email == email,
                    )
                )
                .order_by(TenantInvitation.id)
            )
        ),
        "audit_events": records_of(
            await rows(
                select(AuditEvent)
                .where(
                    or_(
                        AuditEvent.actor_user_id == user_id,
                        AuditEvent.subject == f"user:{user_id}",
                        AuditEvent.subject == f"email:{email}",
                    )
                )
                .order_by(AuditEvent.id)
            )
        ),
    }


CONTRIBUTOR = Contributor(
    package="identity",
    collect=collect,
    covers=frozenset(
        {
            "users.id",
            "tenant_memberships.user_id",
            "api_keys.created_by",
            "browser_sessions.user_id",
            "refresh_tokens.user_id",
            "password_reset_tokens.user_id",
            "user_identities.user_id",
            "tenant_invitations.invited_by",
            "tenant_invitations.accepted_by",
            "audit_events.actor_user_id",
        }
    ),
)
