"""Writing events to the outbox, inside the caller's transaction.

The row commits or rolls back with the change it describes, so an event is never lost nor
sent for a change that did not happen; the relay delivers it after commit.
"""

from __future__ import annotations

from datetime import UTC, datetime

from opentelemetry import propagate
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.ids import new_id
from mosaic.core.request_context import current_request_id
from mosaic.events.envelope import DomainEvent
from mosaic.models import Base, OutboxEvent

# Built once and executed with each event's values: a Core INSERT on the table keeps one
# compiled form in the engine's cache, where ``insert(OutboxEvent).values(...)`` rebuilt its
# cache key and a bind parameter per column on every request (and went the ORM's way).
# A plain INSERT without RETURNING: the application may append, not read the outbox.
_APPEND = insert(Base.metadata.tables[OutboxEvent.__tablename__])


async def record(session: AsyncSession, event: DomainEvent, *, actor_id: str | None) -> None:
    """Append ``event`` to the outbox in ``session``'s transaction (never commits)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    await session.execute(
        _APPEND,
        {
            "id": new_id(),
            "type": event.type_name(),
            "version": event.version,
            "occurred_at": datetime.now(UTC),
            "tenant_id": event.tenant_id,
            "actor_id": actor_id,
            "resource_kind": event.resource_kind,
            "resource_id": str(event.resource_id),
            "correlation_id": current_request_id(),
            "traceparent": carrier.get("traceparent"),
            "payload": event.payload(),
        },
    )
