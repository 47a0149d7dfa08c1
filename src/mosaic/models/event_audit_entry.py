"""The audit consumer's append-only record of every domain event (one row per event)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, DateTime, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base


class EventAuditEntry(Base):
    """A domain event as the audit trail keeps it; rows are never updated nor deleted.

    ``tenant_id`` carries no foreign key (the trail outlives a deleted tenant) and row-level
    security scopes it like a tenant-owned table.
    """

    __tablename__ = "event_audit_log"
    __table_args__ = (Index(None, "tenant_id", "position"),)

    event_id: Mapped[UUID] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    tenant_id: Mapped[UUID | None]
    type: Mapped[str] = mapped_column(String(100))
    version: Mapped[int]
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[str | None] = mapped_column(String(100))
    resource_kind: Mapped[str] = mapped_column(String(50))
    resource_id: Mapped[str] = mapped_column(String(100))
    correlation_id: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
