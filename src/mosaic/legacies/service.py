"""Legacies: the rules for creating, finding, changing and deleting them.

Other domain modules reach legacies only through the functions here.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.models import Legacy


async def find(session: AsyncSession, legacy_id: UUID) -> Legacy | None:
    """The legacy ``legacy_id`` in the session's tenant, unless it does not exist or was
    deleted (row-level security hides other tenants' legacies)."""
    return (
        await session.execute(
            select(Legacy).where(Legacy.id == legacy_id, Legacy.deleted_at.is_(None))
        )
    ).scalar_one_or_none()
