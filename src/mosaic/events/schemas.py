"""How dead letters and the event audit trail look from outside (API and CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class DeadLetterSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    consumer: str
    event_id: str | None
    event_type: str | None
    reason: str
    attempts: int
    failed_at: datetime


class DeadLetterRead(DeadLetterSummary):
    """A dead letter with what was delivered: the envelope, or the raw body when malformed."""

    envelope: dict[str, Any] | None
    body: str


class EventAuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    event_id: UUID
    position: int
    type: str
    version: int
    occurred_at: datetime
    actor_id: str | None
    resource_kind: str
    resource_id: str
    correlation_id: str | None
    payload: dict[str, Any]
    recorded_at: datetime
