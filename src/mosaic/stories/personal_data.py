"""Subject access: what the story tables hold about a user, in the bound tenant.

Stories they wrote and the revisions they made (to their own stories or others'), flags they
raised or resolved, and consent records they recorded or last changed.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.personal_data import Contributor, Sections, records_of
from mosaic.models import ConsentRecord, Story, StoryFlag, StoryRevision


async def collect(session: AsyncSession, user_id: UUID) -> Sections:
    """The story tables' rows about ``user_id`` in the session's tenant."""

    async def rows(statement: Select[Any]) -> list[Any]:
        return list((await session.scalars(statement)).all())

    return {
        "stories": records_of(
            await rows(
                select(Story)
                .where(or_(Story.author_id == user_id, Story.actor_id == user_id))
                .order_by(Story.id)
            )
        ),
        "story_revisions": records_of(
            await rows(
                select(StoryRevision)
                .where(StoryRevision.actor_id == user_id)
                .order_by(StoryRevision.story_id, StoryRevision.version)
            )
        ),
        "story_flags": records_of(
            await rows(
                select(StoryFlag)
                .where(
                    or_(
                        StoryFlag.flagged_by == user_id,
                        StoryFlag.resolved_by == user_id,
                        StoryFlag.actor_id == user_id,
                    )
                )
                .order_by(StoryFlag.id)
            )
        ),
        "consent_records": records_of(
            await rows(
                select(ConsentRecord)
                .where(or_(ConsentRecord.recorded_by == user_id, ConsentRecord.actor_id == user_id))
                .order_by(ConsentRecord.id)
            )
        ),
    }


CONTRIBUTOR = Contributor(
    package="stories",
    collect=collect,
    covers=frozenset(
        {
            "stories.author_id",
            "stories.actor_id",
            "story_revisions.actor_id",
            "story_flags.flagged_by",
            "story_flags.resolved_by",
            "story_flags.actor_id",
            "consent_records.recorded_by",
            "consent_records.actor_id",
        }
    ),
)
