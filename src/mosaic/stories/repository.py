"""Queries of stories, revisions, flags and consent records (row-level security scopes every
one of them to the bound tenant; the callers add the policy's filters)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Select, bindparam, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import ExecutableReturnsRows

from mosaic.authz import ResourceKind, RowColumns, ScopeKind
from mosaic.core.pagination import inline_limit
from mosaic.models import ConsentRecord, FlagState, Legacy, Story, StoryFlag, StoryRevision

STORY_ROWS = RowColumns(
    kind=ResourceKind.STORY,
    scopes={
        ScopeKind.TENANT: Story.tenant_id,
        ScopeKind.LEGACY: Story.legacy_id,
        ScopeKind.STORY: Story.id,
    },
    owner=Story.author_id,
    visibility=Story.visibility,
)

# Flags are listed joined to their story: the moderator's role is the one in its legacy.
FLAG_ROWS = RowColumns(
    kind=ResourceKind.STORY_FLAG,
    scopes={ScopeKind.TENANT: StoryFlag.tenant_id, ScopeKind.LEGACY: Story.legacy_id},
    owner=StoryFlag.flagged_by,
)


# Stories


async def get_story(
    session: AsyncSession, story_id: UUID, *, for_update: bool = False
) -> Story | None:
    """The story unless it does not exist, is another tenant's or was deleted."""
    statement = _STORY_FOR_UPDATE if for_update else _STORY
    return (await session.execute(statement, {"story_id": story_id})).scalar_one_or_none()


# Every read or write of one story starts here: built once.
_STORY = select(Story).where(Story.id == bindparam("story_id"), Story.deleted_at.is_(None))
_STORY_FOR_UPDATE = _STORY.with_for_update()


async def list_stories(
    session: AsyncSession,
    *,
    legacy_id: UUID,
    visible: ColumnElement[bool],
    after: UUID | None,
    limit: int,
) -> Sequence[Story]:
    """A legacy's stories passing ``visible``, newest first (ids are time-ordered UUIDv7);
    none if the legacy does not exist or was deleted."""
    parameters = {"legacy_id": legacy_id, "after": after}
    statement = _page_statement(visible, limit=limit, resumed=after is not None)
    return (await session.execute(statement, parameters)).scalars().all()


# The policy's filters are compiled once per subject (``authz.filters``): the page statement
# around one is built once too, and executed with this request's parameters. A reused
# statement keeps its SQLAlchemy cache key, which for a filter this size costs more to build
# than the rest of executing it.
@lru_cache(maxsize=1024)
def _page_statement(visible: ColumnElement[bool], *, limit: int, resumed: bool) -> Select[Story]:
    statement = (
        select(Story)
        .where(
            Story.legacy_id == bindparam("legacy_id"),
            Story.deleted_at.is_(None),
            visible,
            # Evaluated once per execution (it is not correlated): a deleted legacy's stories
            # are never listed, whether or not they were deleted with it.
            exists().where(Legacy.id == bindparam("legacy_id"), Legacy.deleted_at.is_(None)),
        )
        .order_by(Story.id.desc())
        .limit(inline_limit(limit))
    )
    return statement.where(Story.id < bindparam("after")) if resumed else statement


async def insert_story(
    session: AsyncSession, values: dict[str, Any], *, revision_id: UUID
) -> Story:
    """Insert a story (``values``: every column but the timestamps and ``deleted_at``) and
    its revision 1, a copy of it, in one statement; the story as stored."""
    story: Story = (
        await session.execute(_NEW_STORY, {**values, "revision_id": revision_id})
    ).scalar_one()
    return story


def _new_story_statement() -> ExecutableReturnsRows:
    story = (
        insert(Story)
        .values({name: bindparam(name) for name in _WRITTEN_STORY_COLUMNS})
        .returning(*Story.__table__.c)
        .cte("new_story")
    )
    # The first revision is the story as written: copied from what the insert returned.
    copied = [
        "tenant_id", "version", "title", "content", "visibility", "tags",
        "actor_id", "source_ip", "user_agent", "plugin_id",
    ]  # fmt: skip
    first_revision = (
        insert(StoryRevision)
        .from_select(
            ["id", "story_id", *copied],
            select(
                bindparam("revision_id", type_=StoryRevision.__table__.c.id.type),
                story.c.id,
                *(story.c[name] for name in copied),
            ),
        )
        .cte("first_revision")
    )
    return select(Story).from_statement(select(story).add_cte(first_revision))


_WRITTEN_STORY_COLUMNS = [
    column.name
    for column in Story.__table__.c
    if column.name not in {"created_at", "updated_at", "deleted_at"}
]
# One round trip instead of two, and no unit-of-work flush: every story written runs it.
_NEW_STORY = _new_story_statement()


async def compare_and_set(
    session: AsyncSession, *, story_id: UUID, expected_version: int, values: dict[str, Any]
) -> Story | None:
    """Write ``values`` and the next version if the story is still at ``expected_version``.

    One ``UPDATE … WHERE version = :expected``: a concurrent writer that got there first holds
    the row lock, and once it commits this statement re-reads the row, finds another version
    and updates nothing. ``None`` means this writer lost.
    """
    statement = (
        update(Story)
        .where(
            Story.id == story_id,
            Story.version == expected_version,
            Story.deleted_at.is_(None),
        )
        .values(**values, version=Story.version + 1, updated_at=func.now())
        .returning(Story)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def soft_delete(
    session: AsyncSession, *, story_id: UUID, expected_version: int, provenance: dict[str, Any]
) -> bool:
    """Mark the story deleted if it is still at ``expected_version`` (compare-and-set)."""
    statement = (
        update(Story)
        .where(
            Story.id == story_id,
            Story.version == expected_version,
            Story.deleted_at.is_(None),
        )
        .values(deleted_at=func.now(), updated_at=func.now(), **provenance)
        .returning(Story.id)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


# Revisions


async def list_revisions(
    session: AsyncSession, *, story_id: UUID, after: UUID | None, limit: int
) -> Sequence[StoryRevision]:
    """A story's revisions, newest first."""
    statement = (
        select(StoryRevision)
        .where(StoryRevision.story_id == story_id)
        .order_by(StoryRevision.id.desc())
        .limit(inline_limit(limit))
    )
    if after is not None:
        statement = statement.where(StoryRevision.id < after)
    return (await session.execute(statement)).scalars().all()


async def get_revision(
    session: AsyncSession, *, story_id: UUID, version: int
) -> StoryRevision | None:
    return (
        await session.execute(
            select(StoryRevision).where(
                StoryRevision.story_id == story_id, StoryRevision.version == version
            )
        )
    ).scalar_one_or_none()


# Flags


async def insert_open_flag(session: AsyncSession, values: dict[str, Any]) -> StoryFlag | None:
    """Insert an open flag; ``None`` when the user already has one open on the story (the
    partial unique index decides, so two concurrent flags cannot both land)."""
    statement = (
        insert(StoryFlag)
        .values(**values, state=FlagState.OPEN)
        .on_conflict_do_nothing(
            index_elements=[StoryFlag.tenant_id, StoryFlag.story_id, StoryFlag.flagged_by],
            # A literal, not a bound parameter: PostgreSQL matches the partial index by its
            # predicate, and cannot prove "state = $1" implies it once the plan is generic.
            index_where=text("state = 'open'"),
        )
        .returning(StoryFlag)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def list_flags(
    session: AsyncSession,
    *,
    visible: ColumnElement[bool],
    state: FlagState | None,
    after: UUID | None,
    limit: int,
) -> Sequence[StoryFlag]:
    """Flags passing ``visible`` (a condition over the flag and its story), oldest first:
    a queue is worked from the front."""
    statement = (
        select(StoryFlag)
        .join(Story, Story.id == StoryFlag.story_id)
        .where(visible, Story.deleted_at.is_(None))
        .order_by(StoryFlag.id)
        .limit(inline_limit(limit))
    )
    if state is not None:
        statement = statement.where(StoryFlag.state == state)
    if after is not None:
        statement = statement.where(StoryFlag.id > after)
    return (await session.execute(statement)).scalars().all()


async def get_flag(
    session: AsyncSession, flag_id: UUID, *, for_update: bool = False
) -> tuple[StoryFlag, Story] | None:
    """A flag and its (undeleted) story."""
    statement = (
        select(StoryFlag, Story)
        .join(Story, Story.id == StoryFlag.story_id)
        .where(StoryFlag.id == flag_id, Story.deleted_at.is_(None))
    )
    if for_update:
        statement = statement.with_for_update(of=StoryFlag)
    row = (await session.execute(statement)).one_or_none()
    return None if row is None else (row[0], row[1])


# Consent records


async def list_consents(
    session: AsyncSession, *, story_id: UUID, after: UUID | None, limit: int
) -> Sequence[ConsentRecord]:
    statement = (
        select(ConsentRecord)
        .where(ConsentRecord.story_id == story_id)
        .order_by(ConsentRecord.id)
        .limit(inline_limit(limit))
    )
    if after is not None:
        statement = statement.where(ConsentRecord.id > after)
    return (await session.execute(statement)).scalars().all()


async def get_consent(
    session: AsyncSession, *, story_id: UUID, consent_id: UUID, for_update: bool = False
) -> ConsentRecord | None:
    statement = select(ConsentRecord).where(
        ConsentRecord.id == consent_id, ConsentRecord.story_id == story_id
    )
    if for_update:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()
