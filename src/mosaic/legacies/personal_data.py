"""Subject access: what the legacy tables hold about a user, in the bound tenant.

Legacies the user created or last changed, their memberships of legacies (and the ones they
approved or last changed), and legacy invitations they sent, accepted, last changed or that
are addressed to them.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.personal_data import Contributor, Sections, records_of
from mosaic.models import Legacy, LegacyInvitation, LegacyMember, User


async def collect(session: AsyncSession, user_id: UUID) -> Sections:
    """The legacy tables' rows about ``user_id`` in the session's tenant."""
    email = (await session.scalar(select(User.email).where(User.id == user_id))) or ""

    async def rows(statement: Select[Any]) -> list[Any]:
        return list((await session.scalars(statement)).all())

    return {
        "legacies": records_of(
            await rows(
                select(Legacy)
                .where(or_(Legacy.created_by == user_id, Legacy.actor_id == user_id))
                .order_by(Legacy.id)
            )
        ),
        "legacy_memberships": records_of(
            await rows(
                select(LegacyMember)
                .where(
                    or_(
                        LegacyMember.user_id == user_id,
                        LegacyMember.approved_by == user_id,
                        LegacyMember.actor_id == user_id,
                    )
                )
                .order_by(LegacyMember.legacy_id)
            )
        ),
        "legacy_invitations": records_of(
            await rows(
                select(LegacyInvitation)
                .where(
                    or_(
                        LegacyInvitation.invited_by == user_id,
                        LegacyInvitation.accepted_by == user_id,
                        LegacyInvitation.actor_id == user_id,
                        LegacyInvitation.email == email,
                    )
                )
                .order_by(LegacyInvitation.id)
            )
        ),
    }


CONTRIBUTOR = Contributor(
    package="legacies",
    collect=collect,
    covers=frozenset(
        {
            "legacies.created_by",
            "legacies.actor_id",
            "legacy_members.user_id",
            "legacy_members.approved_by",
            "legacy_members.actor_id",
            "legacy_invitations.invited_by",
            "legacy_invitations.accepted_by",
            "legacy_invitations.actor_id",
        }
    ),
)
