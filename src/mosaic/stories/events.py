"""Domain events of stories, moderation and consent: recorded in the outbox in the transaction
of the change. Payloads carry ids and states, never content or the names of living people."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from mosaic.events import DomainEvent


class StoryEvent(DomainEvent):
    resource_kind: ClassVar[str] = "story"

    legacy_id: UUID
    story_version: int


class StoryCreated(StoryEvent):
    author_id: UUID | None
    visibility: str


class StoryUpdated(StoryEvent):
    visibility: str


class StoryDeleted(StoryEvent):
    pass


class StoryRestored(StoryEvent):
    restored_from: int


class ModerationFlagged(DomainEvent):
    resource_kind: ClassVar[str] = "story_flag"

    story_id: UUID
    reason: str


class ModerationResolved(DomainEvent):
    resource_kind: ClassVar[str] = "story_flag"

    story_id: UUID
    resolution: str


class ConsentRecorded(DomainEvent):
    resource_kind: ClassVar[str] = "consent"

    story_id: UUID
    status: str
