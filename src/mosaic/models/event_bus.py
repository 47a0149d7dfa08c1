"""The PostgreSQL bus's tables: who listens to what, and each consumer's queue of deliveries.

Platform tables, read and written by the database owner only (the relay and the worker), never
by a request: they span tenants, so row-level security has nothing to scope them by.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    DateTime,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base


class EventSubscription(Base):
    """A consumer's durable queue and the event types it receives."""

    __tablename__ = "event_subscriptions"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(100)))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EventDelivery(Base):
    """One event waiting for one consumer; deleted once handled or dead-lettered."""

    __tablename__ = "event_deliveries"
    __table_args__ = (Index(None, "consumer", "available_at", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    consumer: Mapped[str] = mapped_column(String(100))
    # The envelope as it travels (Envelope.to_json), so a malformed body is representable.
    body: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer, server_default="1")
    # Retries wait: a delivery is not handed out before this moment.
    available_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    enqueued_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_error: Mapped[str | None] = mapped_column(Text)


class EventDeadLetter(Base):
    """A delivery a consumer gave up on, kept (whatever the bus) until replayed or discarded."""

    __tablename__ = "event_dead_letters"
    __table_args__ = (Index(None, "consumer", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    consumer: Mapped[str] = mapped_column(String(100))
    # None when the body was not an envelope.
    event_id: Mapped[str | None] = mapped_column(String(100))
    event_type: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    envelope: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    reason: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ProcessedEvent(Base):
    """Proof that ``consumer`` applied ``event_id``: written in the handler's own transaction."""

    __tablename__ = "processed_events"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
