"""Queries whose correctness depends on PostgreSQL's planner, checked on one connection."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import true
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from mosaic.core.ids import new_id
from mosaic.models import FlagReason
from mosaic.stories import repository
from tests.stories.conftest import Community, Sessions, StoryWriter


async def test_the_open_flag_upsert_survives_a_generic_plan(
    community: Community, write_story: StoryWriter, owner_sessions: Sessions
) -> None:
    # asyncpg prepares statements; after five runs PostgreSQL may switch to a generic plan,
    # where ON CONFLICT must still match the partial unique index by its predicate.
    stories = [await write_story(visibility="public") for _ in range(8)]
    flagger = community.people["member"].user_id

    async with owner_sessions() as session, session.begin():
        flags = [
            await repository.insert_open_flag(session, _flag(community, story, flagger))
            for story in stories
        ]
        again = await repository.insert_open_flag(session, _flag(community, stories[0], flagger))

    assert all(flag is not None for flag in flags)
    assert again is None


def _flag(community: Community, story: dict[str, Any], flagger: UUID) -> dict[str, Any]:
    return {
        "id": new_id(),
        "tenant_id": community.tenant.id,
        "story_id": UUID(story["id"]),
        "flagged_by": flagger,
        "reason": FlagReason.SPAM,
    }


def test_the_page_statement_carries_its_limit_in_the_sql() -> None:
    # One prepared statement per page size, which PostgreSQL plans once (see inline_limit).
    statement = repository._page_statement(true(), limit=21, resumed=True)
    compiled = statement.compile(dialect=PGDialect_asyncpg())  # type: ignore[no-untyped-call]

    assert str(compiled).endswith("LIMIT 21")
    assert set(compiled.params) == {"legacy_id", "after"}
