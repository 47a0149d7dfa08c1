"""Moderation: readers flag stories, moderators work the queue and resolve each flag by
dismissing it, hiding the story or removing it. A flag alone hides nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic import authz
from mosaic.authz import AccessDenied, Action, ResourceKind, StoryFlagResource, Subject
from mosaic.core.ids import new_id
from mosaic.core.provenance import Provenance
from mosaic.events import record
from mosaic.models import FlagResolution, FlagState, ModerationState, Story, StoryFlag
from mosaic.stories import repository
from mosaic.stories.errors import FlagAlreadyOpen, FlagAlreadyResolved, FlagNotFound
from mosaic.stories.events import ModerationFlagged, ModerationResolved
from mosaic.stories.repository import FLAG_ROWS
from mosaic.stories.schemas import FlagCreate, FlagResolve
from mosaic.stories.service import resource_of, visible_story

# What each resolution does to the story.
_STORY_STATE = {
    FlagResolution.DISMISSED: None,
    FlagResolution.HIDDEN: ModerationState.HIDDEN,
    FlagResolution.REMOVED: ModerationState.REMOVED,
}


def _flag_resource(flag: StoryFlag, story: Story) -> StoryFlagResource:
    return StoryFlagResource(
        tenant_id=flag.tenant_id,
        legacy_id=story.legacy_id,
        flag_id=flag.id,
        flagged_by=flag.flagged_by,
    )


async def flag_story(
    session: AsyncSession,
    *,
    subject: Subject,
    story_id: UUID,
    data: FlagCreate,
    provenance: Provenance,
) -> StoryFlag:
    """Flag a story one can read; one open flag per user per story."""
    story = await visible_story(session, subject=subject, story_id=story_id)
    if subject.user_id is None:
        # A flag is a person's word; a tenant key speaks for nobody in particular.
        raise AccessDenied("Only a user can flag a story")
    await authz.authorize(
        session,
        subject,
        Action.CREATE,
        StoryFlagResource(
            tenant_id=story.tenant_id, legacy_id=story.legacy_id, flagged_by=subject.user_id
        ),
    )
    flag = await repository.insert_open_flag(
        session,
        {
            "id": new_id(),
            "tenant_id": story.tenant_id,
            "story_id": story.id,
            "flagged_by": subject.user_id,
            "reason": data.reason,
            "note": data.note,
            **provenance.columns(),
        },
    )
    if flag is None:
        raise FlagAlreadyOpen()
    await record(
        session,
        ModerationFlagged(
            tenant_id=flag.tenant_id,
            resource_id=flag.id,
            story_id=story.id,
            reason=flag.reason.value,
        ),
        actor_id=str(subject.user_id),
    )
    return flag


async def list_flags(
    session: AsyncSession,
    *,
    subject: Subject,
    state: FlagState | None,
    after: UUID | None,
    limit: int,
) -> Sequence[StoryFlag]:
    """The moderation queue: flags on stories of the legacies ``subject`` moderates."""
    visible = await authz.read_filter(subject, FLAG_ROWS)
    return await repository.list_flags(
        session, visible=visible, state=state, after=after, limit=limit
    )


async def resolve_flag(
    session: AsyncSession,
    *,
    subject: Subject,
    flag_id: UUID,
    data: FlagResolve,
    provenance: Provenance,
) -> StoryFlag:
    """Close a flag with a decision, and hide or remove its story accordingly."""
    await authz.authorize_kind(subject, Action.UPDATE, ResourceKind.STORY_FLAG)
    found = await repository.get_flag(session, flag_id, for_update=True)
    if found is None:
        raise FlagNotFound()
    flag, story = found
    resource = _flag_resource(flag, story)
    if not await authz.can(session, subject, Action.READ, resource):
        raise FlagNotFound()
    await authz.authorize(session, subject, Action.UPDATE, resource)
    if flag.state is FlagState.RESOLVED:
        raise FlagAlreadyResolved()
    story_state = _STORY_STATE[data.resolution]
    if story_state is not None:
        await authz.authorize(session, subject, Action.MODERATE, resource_of(story))
        await session.execute(
            update(Story)
            .where(Story.id == story.id)
            .values(moderation_state=story_state, **provenance.columns())
            .execution_options(synchronize_session=False)
        )
    flag.state = FlagState.RESOLVED
    flag.resolution = data.resolution
    flag.resolved_by = subject.user_id
    flag.resolved_at = datetime.now(UTC)
    flag.resolution_note = data.note
    for column, value in provenance.columns().items():
        setattr(flag, column, value)
    await session.flush()
    await session.refresh(flag)
    await record(
        session,
        ModerationResolved(
            tenant_id=flag.tenant_id,
            resource_id=flag.id,
            story_id=story.id,
            resolution=data.resolution.value,
        ),
        actor_id=str(subject.user_id) if subject.user_id else subject.principal.key,
    )
    return flag
