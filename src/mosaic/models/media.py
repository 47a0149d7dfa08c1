"""A media file: its blob's location, declared and detected type, size and state.

A row is created ``pending`` when an upload URL is handed out, becomes ``ready`` once the
uploaded bytes were checked (size, magic bytes), or is removed with its blob when they fail.
Images are then processed once by the worker: a thumbnail blob and the image's facts, or the
reason processing failed (``processing_error``); ``processed_at`` says it was tried.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base, IdMixin, TenantOwned, TimestampMixin, str_enum
from mosaic.models.provenance import ProvenanceMixin


class MediaState(StrEnum):
    PENDING = "pending"
    READY = "ready"


class Media(IdMixin, TimestampMixin, ProvenanceMixin, TenantOwned, Base):
    __tablename__ = "media"
    __table_args__ = (
        UniqueConstraint("tenant_id", "storage_bucket", "storage_key"),
        Index(None, "tenant_id", "legacy_id", "id"),
        Index(None, "tenant_id", "owner_id"),
    )

    owner_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    legacy_id: Mapped[UUID | None] = mapped_column(ForeignKey("legacies.id", ondelete="SET NULL"))
    story_id: Mapped[UUID | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"))
    storage_backend: Mapped[str] = mapped_column(String(16))
    storage_bucket: Mapped[str] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(1024))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[MediaState] = mapped_column(
        str_enum(MediaState, "media_state"), default=MediaState.PENDING
    )
    upload_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    thumbnail_key: Mapped[str | None] = mapped_column(String(1024))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    image_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    processing_error: Mapped[str | None] = mapped_column(String(200))
