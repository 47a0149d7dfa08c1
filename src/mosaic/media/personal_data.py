"""Subject access: the media a user uploaded (or last changed), in the bound tenant.

The rows describe the files (name, type, size, checksum, where they are attached); the bytes
stay in storage (the export lists them in its media manifest).
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.personal_data import Contributor, Sections, records_of
from mosaic.models import Media


async def collect(session: AsyncSession, user_id: UUID) -> Sections:
    """The media rows about ``user_id`` in the session's tenant."""
    rows = await session.scalars(
        select(Media)
        .where(or_(Media.owner_id == user_id, Media.actor_id == user_id))
        .order_by(Media.id)
    )
    return {"media": records_of(rows.all())}


CONTRIBUTOR = Contributor(
    package="media", collect=collect, covers=frozenset({"media.owner_id", "media.actor_id"})
)
