"""The ``audit`` consumer: every domain event, appended to ``event_audit_log``; and its reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.pagination import inline_limit
from mosaic.events.bus import Envelope
from mosaic.models import Base, EventAuditEntry

# Built once (see ``outbox._APPEND``): the consumer appends one row per event.
_APPEND = insert(Base.metadata.tables[EventAuditEntry.__tablename__])


async def append_to_audit_log(session: AsyncSession, envelope: Envelope) -> None:
    """Record ``envelope`` once; the worker's idempotency makes a redelivery a no-op."""
    await session.execute(_APPEND, _entry(envelope))


async def append_all_to_audit_log(session: AsyncSession, envelopes: Sequence[Envelope]) -> None:
    """Record a batch of one tenant's events in one statement (the worker's batch handler)."""
    await session.execute(_APPEND, [_entry(envelope) for envelope in envelopes])


def _entry(envelope: Envelope) -> dict[str, object]:
    return {
        "event_id": UUID(envelope.id),
        "position": envelope.position,
        "tenant_id": UUID(envelope.tenant_id) if envelope.tenant_id else None,
        "type": envelope.type,
        "version": envelope.version,
        "occurred_at": envelope.occurred_at,
        "actor_id": envelope.actor_id,
        "resource_kind": envelope.resource_kind,
        "resource_id": envelope.resource_id,
        "correlation_id": envelope.correlation_id,
        "payload": envelope.payload,
    }


async def list_entries(
    session: AsyncSession,
    *,
    event_type: str | None,
    since: datetime | None,
    after: UUID | None,
    limit: int,
) -> Sequence[EventAuditEntry]:
    """The bound tenant's audit trail, oldest first (event ids are time-ordered UUIDv7s);
    row-level security keeps it to that tenant."""
    statement = (
        select(EventAuditEntry).order_by(EventAuditEntry.event_id).limit(inline_limit(limit))
    )
    if event_type is not None:
        statement = statement.where(EventAuditEntry.type == event_type)
    if since is not None:
        statement = statement.where(EventAuditEntry.occurred_at >= since)
    if after is not None:
        statement = statement.where(EventAuditEntry.event_id > after)
    return (await session.execute(statement)).scalars().all()
