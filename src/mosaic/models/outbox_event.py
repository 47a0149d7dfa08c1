"""A domain event waiting in the outbox, written in the same transaction as its change.

The envelope is seed 000 §6.1's; ``position`` orders events (and so the events of one
aggregate) in commit-independent insertion order for the relay.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, DateTime, Identity, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    __table_args__ = (
        Index(
            "ix_outbox_events_unpublished",
            "position",
            postgresql_where=text("published_at IS NULL"),
        ),
        Index(None, "occurred_at"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    version: Mapped[int]
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # No foreign key: an event outlives what it describes (a deleted tenant's last events).
    tenant_id: Mapped[UUID | None]
    actor_id: Mapped[str | None] = mapped_column(String(100))
    resource_kind: Mapped[str] = mapped_column(String(50))
    resource_id: Mapped[str] = mapped_column(String(100))
    correlation_id: Mapped[str | None] = mapped_column(String(128))
    traceparent: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
