"""Rules of stories and their revisions: who sees what (seed 002's visibility), who writes,
and the compare-and-set that keeps two writers from both winning. Every decision goes
through the policy; every write appends a revision and records an event in the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, false, or_
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic import authz
from mosaic.authz import AccessDenied, Action, ResourceKind, StoryResource, Subject, Visibility
from mosaic.authz.filters import rows_allowed
from mosaic.authz.policy import precondition_failure
from mosaic.core.ids import new_id
from mosaic.core.provenance import Provenance
from mosaic.events import record
from mosaic.legacies import service as legacies
from mosaic.models import ModerationState, Story, StoryRevision
from mosaic.stories import repository
from mosaic.stories.errors import (
    EditConflict,
    LegacyNotFound,
    RevisionNotFound,
    StoryChanged,
    StoryNotFound,
)
from mosaic.stories.events import StoryCreated, StoryDeleted, StoryRestored, StoryUpdated
from mosaic.stories.preconditions import IfMatch
from mosaic.stories.repository import STORY_ROWS
from mosaic.stories.schemas import StoryCreate, distinct


def resource_of(story: Story) -> StoryResource:
    """The policy's view of a story."""
    return StoryResource(
        tenant_id=story.tenant_id,
        legacy_id=story.legacy_id,
        author_id=story.author_id,
        story_visibility=Visibility(story.visibility.value),
        story_id=story.id,
    )


def _actor(subject: Subject) -> str | None:
    return str(subject.user_id) if subject.user_id else subject.principal.key


# Reading


async def visible_story(session: AsyncSession, *, subject: Subject, story_id: UUID) -> Story:
    """The story if ``subject`` may read it; ``StoryNotFound`` otherwise, so a story one may
    not see is indistinguishable from one that does not exist. A hidden or removed story is
    seen by its moderators only."""
    await authz.authorize_kind(subject, Action.READ, ResourceKind.STORY)
    story = await repository.get_story(session, story_id)
    if story is None or not await authz.can(session, subject, Action.READ, resource_of(story)):
        raise StoryNotFound()
    if story.moderation_state is not ModerationState.VISIBLE and not await authz.can(
        session, subject, Action.MODERATE, resource_of(story)
    ):
        raise StoryNotFound()
    return story


def _moderators_rows(subject: Subject) -> ColumnElement[bool]:
    # Asking only: a credential that cannot moderate simply sees no hidden story (no denial
    # is logged or audited for a list that never tried to moderate anything).
    if precondition_failure(
        subject, Action.MODERATE, ResourceKind.STORY, tenant_id=subject.tenant_id
    ):
        return false()
    return rows_allowed(subject, STORY_ROWS, action=Action.MODERATE)


async def list_stories(
    session: AsyncSession, *, subject: Subject, legacy_id: UUID, after: UUID | None, limit: int
) -> Sequence[Story]:
    """The legacy's stories ``subject`` may see, newest first."""
    visible = await authz.read_filter(subject, STORY_ROWS)
    shown = _shown(visible, _moderators_rows(subject))
    stories = await repository.list_stories(
        session, legacy_id=legacy_id, visible=shown, after=after, limit=limit
    )
    # The page query returns nothing for a missing or deleted legacy, so only an empty page
    # needs to tell "no such legacy" from "nothing to show" (one query fewer per page).
    if not stories and await legacies.find(session, legacy_id) is None:
        raise LegacyNotFound()
    return stories


@lru_cache(maxsize=1024)
def _shown(visible: ColumnElement[bool], moderated: ColumnElement[bool]) -> ColumnElement[bool]:
    # Built once per pair of (cached) policy filters: the repository caches its statement by
    # this condition's identity.
    return and_(visible, or_(Story.moderation_state == ModerationState.VISIBLE, moderated))


# Writing


async def _append_revision(
    session: AsyncSession,
    story: Story,
    *,
    provenance: Provenance,
    restored_from: int | None = None,
) -> None:
    session.add(
        StoryRevision(
            id=new_id(),
            tenant_id=story.tenant_id,
            story_id=story.id,
            version=story.version,
            title=story.title,
            content=story.content,
            visibility=story.visibility,
            tags=list(story.tags),
            restored_from=restored_from,
            **provenance.columns(),
        )
    )
    await session.flush()


async def create_story(
    session: AsyncSession, *, subject: Subject, data: StoryCreate, provenance: Provenance
) -> Story:
    """A new story by ``subject`` in a legacy they contribute to; revision 1 with it."""
    await authz.authorize_kind(subject, Action.CREATE, ResourceKind.STORY)
    legacy = await legacies.find(session, data.legacy_id)
    if legacy is None:
        raise LegacyNotFound()
    await authz.authorize(
        session,
        subject,
        Action.CREATE,
        StoryResource(
            tenant_id=subject.tenant_id,
            legacy_id=legacy.id,
            author_id=subject.user_id,
            story_visibility=Visibility(data.visibility.value),
        ),
    )
    story = await repository.insert_story(
        session,
        {
            "id": new_id(),
            "tenant_id": subject.tenant_id,
            "legacy_id": legacy.id,
            "author_id": subject.user_id,
            "title": data.title,
            "content": data.content,
            "visibility": data.visibility,
            "tags": distinct(data.tags),
            "version": 1,
            "moderation_state": ModerationState.VISIBLE,
            **provenance.columns(),
        },
        revision_id=new_id(),
    )
    await record(
        session,
        StoryCreated(
            tenant_id=story.tenant_id,
            resource_id=story.id,
            legacy_id=story.legacy_id,
            story_version=story.version,
            author_id=story.author_id,
            visibility=story.visibility.value,
        ),
        actor_id=_actor(subject),
    )
    return story


async def _writable(
    session: AsyncSession, *, subject: Subject, story_id: UUID, action: Action
) -> Story:
    story = await visible_story(session, subject=subject, story_id=story_id)
    await authz.authorize(session, subject, action, resource_of(story))
    return story


async def _compare_and_set(
    session: AsyncSession,
    story: Story,
    *,
    if_match: IfMatch,
    values: dict[str, Any],
    provenance: Provenance,
) -> Story:
    expected = if_match.expected(story.version)
    updated = await repository.compare_and_set(
        session,
        story_id=story.id,
        expected_version=expected,
        values={**values, **provenance.columns()},
    )
    if updated is None:
        # Another writer committed between our read and our write.
        raise StoryChanged() if if_match.given else EditConflict()
    return updated


async def update_story(
    session: AsyncSession,
    *,
    subject: Subject,
    story_id: UUID,
    changes: dict[str, Any],
    if_match: IfMatch,
    provenance: Provenance,
) -> Story:
    """Change a story (its author only) and append the revision; ``changes`` holds only the
    fields to change."""
    story = await _writable(session, subject=subject, story_id=story_id, action=Action.UPDATE)
    if "tags" in changes:
        changes = {**changes, "tags": distinct(changes["tags"])}
    updated = await _compare_and_set(
        session, story, if_match=if_match, values=changes, provenance=provenance
    )
    await _append_revision(session, updated, provenance=provenance)
    await record(
        session,
        StoryUpdated(
            tenant_id=updated.tenant_id,
            resource_id=updated.id,
            legacy_id=updated.legacy_id,
            story_version=updated.version,
            visibility=updated.visibility.value,
        ),
        actor_id=_actor(subject),
    )
    return updated


async def delete_story(
    session: AsyncSession,
    *,
    subject: Subject,
    story_id: UUID,
    if_match: IfMatch,
    provenance: Provenance,
) -> None:
    """Soft-delete a story (its author, the legacy's owner, an administrator)."""
    story = await _writable(session, subject=subject, story_id=story_id, action=Action.DELETE)
    expected = if_match.expected(story.version)
    deleted = await repository.soft_delete(
        session, story_id=story.id, expected_version=expected, provenance=provenance.columns()
    )
    if not deleted:
        raise StoryChanged() if if_match.given else EditConflict()
    await record(
        session,
        StoryDeleted(
            tenant_id=story.tenant_id,
            resource_id=story.id,
            legacy_id=story.legacy_id,
            story_version=expected,
        ),
        actor_id=_actor(subject),
    )


# Revisions


async def _history_of(session: AsyncSession, *, subject: Subject, story_id: UUID) -> Story:
    # Earlier revisions may hold what the author took out on purpose (a living person's name
    # after consent was denied, a draft while the story was personal): the history is for
    # the author and the story's moderators, not for every reader.
    story = await visible_story(session, subject=subject, story_id=story_id)
    resource = resource_of(story)
    if not (
        await authz.can(session, subject, Action.UPDATE, resource)
        or await authz.can(session, subject, Action.MODERATE, resource)
    ):
        raise AccessDenied("Only the author and moderators read a story's revisions")
    return story


async def list_revisions(
    session: AsyncSession, *, subject: Subject, story_id: UUID, after: UUID | None, limit: int
) -> Sequence[StoryRevision]:
    """A story's revisions, newest first."""
    story = await _history_of(session, subject=subject, story_id=story_id)
    return await repository.list_revisions(session, story_id=story.id, after=after, limit=limit)


async def get_revision(
    session: AsyncSession, *, subject: Subject, story_id: UUID, version: int
) -> StoryRevision:
    story = await _history_of(session, subject=subject, story_id=story_id)
    revision = await repository.get_revision(session, story_id=story.id, version=version)
    if revision is None:
        raise RevisionNotFound()
    return revision


async def restore_revision(
    session: AsyncSession,
    *,
    subject: Subject,
    story_id: UUID,
    version: int,
    if_match: IfMatch,
    provenance: Provenance,
) -> Story:
    """Bring back revision ``version`` as a new revision (history is never rewritten)."""
    story = await _writable(session, subject=subject, story_id=story_id, action=Action.UPDATE)
    revision = await repository.get_revision(session, story_id=story.id, version=version)
    if revision is None:
        raise RevisionNotFound()
    values = {
        "title": revision.title,
        "content": revision.content,
        "visibility": revision.visibility,
        "tags": list(revision.tags),
    }
    restored = await _compare_and_set(
        session, story, if_match=if_match, values=values, provenance=provenance
    )
    await _append_revision(session, restored, provenance=provenance, restored_from=version)
    await record(
        session,
        StoryRestored(
            tenant_id=restored.tenant_id,
            resource_id=restored.id,
            legacy_id=restored.legacy_id,
            story_version=restored.version,
            restored_from=version,
        ),
        actor_id=_actor(subject),
    )
    return restored
