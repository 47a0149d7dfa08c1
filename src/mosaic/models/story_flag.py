"""A flag raised on a story for moderators, and how they resolved it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base, IdMixin, TenantOwned, TimestampMixin, str_enum
from mosaic.models.provenance import ProvenanceMixin


class FlagReason(StrEnum):
    SPAM = "spam"
    ABUSE = "abuse"
    PRIVACY = "privacy"
    INACCURATE = "inaccurate"
    OTHER = "other"


class FlagState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class FlagResolution(StrEnum):
    """What moderators decided: dismiss the flag (the story stays), hide or remove the story."""

    DISMISSED = "dismissed"
    HIDDEN = "hidden"
    REMOVED = "removed"


class StoryFlag(IdMixin, TimestampMixin, ProvenanceMixin, TenantOwned, Base):
    __tablename__ = "story_flags"
    __table_args__ = (
        Index(None, "tenant_id", "state", "id"),
        Index(None, "tenant_id", "story_id"),
        # One open flag per user per story: a second one is a 409, not a louder voice.
        Index(
            "uq_story_flags_open_per_user",
            "tenant_id",
            "story_id",
            "flagged_by",
            unique=True,
            postgresql_where=text("state = 'open'"),
        ),
    )

    story_id: Mapped[UUID] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    flagged_by: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[FlagReason] = mapped_column(str_enum(FlagReason, "flag_reason"))
    note: Mapped[str | None] = mapped_column(Text)
    state: Mapped[FlagState] = mapped_column(
        str_enum(FlagState, "flag_state"), default=FlagState.OPEN
    )
    resolution: Mapped[FlagResolution | None] = mapped_column(
        str_enum(FlagResolution, "flag_resolution")
    )
    resolved_by: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_note: Mapped[str | None] = mapped_column(String(2000))
