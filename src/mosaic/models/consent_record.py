"""Consent of a living person named in a story (seed 000 §11)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base, IdMixin, TenantOwned, TimestampMixin, str_enum
from mosaic.models.provenance import ProvenanceMixin


class ConsentStatus(StrEnum):
    REQUESTED = "requested"
    GRANTED = "granted"
    DENIED = "denied"
    WITHDRAWN = "withdrawn"


class ConsentRecord(IdMixin, TimestampMixin, ProvenanceMixin, TenantOwned, Base):
    __tablename__ = "consent_records"
    __table_args__ = (Index(None, "tenant_id", "story_id"),)

    story_id: Mapped[UUID] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    person_name: Mapped[str] = mapped_column(String(200))
    person_email: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[ConsentStatus] = mapped_column(
        str_enum(ConsentStatus, "consent_status"), default=ConsentStatus.REQUESTED
    )
    note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
