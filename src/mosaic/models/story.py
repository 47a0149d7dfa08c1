"""A story about a legacy: Markdown as written, a visibility, tags and a version counter.

Every write appends a ``StoryRevision``; ``version`` is the number of the latest one and is
what ``If-Match`` compares for optimistic concurrency.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import ARRAY, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base, IdMixin, TenantOwned, TimestampMixin, str_enum
from mosaic.models.provenance import ProvenanceMixin


class StoryVisibility(StrEnum):
    """Seed 002: public for anyone in the tenant, private for the legacy's members, personal
    for its author alone."""

    PUBLIC = "public"
    PRIVATE = "private"
    PERSONAL = "personal"


class ModerationState(StrEnum):
    """Whether moderators have hidden or removed a story; a flag alone hides nothing.

    Hidden and removed stories vanish from every reader but the moderators; "removed" says
    the content broke the rules, "hidden" only that it waits out a dispute.
    """

    VISIBLE = "visible"
    HIDDEN = "hidden"
    REMOVED = "removed"


class Story(IdMixin, TimestampMixin, ProvenanceMixin, TenantOwned, Base):
    __tablename__ = "stories"
    __table_args__ = (
        Index(None, "tenant_id", "legacy_id", "id"),
        Index(None, "tenant_id", "author_id", "id"),
        Index("ix_stories_tags", "tags", postgresql_using="gin"),
    )

    legacy_id: Mapped[UUID] = mapped_column(ForeignKey("legacies.id", ondelete="CASCADE"))
    # None once the author's account is erased (their own stories go with them; this is for
    # stories handed to the legacy before the erasure).
    author_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(500))
    content: Mapped[str] = mapped_column(Text)
    visibility: Mapped[StoryVisibility] = mapped_column(
        str_enum(StoryVisibility, "story_visibility"), default=StoryVisibility.PRIVATE
    )
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    version: Mapped[int] = mapped_column(default=1)
    moderation_state: Mapped[ModerationState] = mapped_column(
        str_enum(ModerationState, "moderation_state"), default=ModerationState.VISIBLE
    )
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
