"""One immutable version of a story: append-only, never updated."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import ARRAY, DateTime, ForeignKey, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base, IdMixin, TenantOwned, str_enum
from mosaic.models.provenance import ProvenanceMixin
from mosaic.models.story import StoryVisibility


class StoryRevision(IdMixin, ProvenanceMixin, TenantOwned, Base):
    __tablename__ = "story_revisions"
    __table_args__ = (UniqueConstraint("tenant_id", "story_id", "version"),)

    story_id: Mapped[UUID] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(500))
    content: Mapped[str] = mapped_column(Text)
    visibility: Mapped[StoryVisibility] = mapped_column(
        str_enum(StoryVisibility, "story_visibility")
    )
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    # Set when this revision brought back an earlier one.
    restored_from: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
