"""Replaying history to one consumer: published outbox rows since a moment, in order.

Only what the outbox still keeps can be replayed (``MOSAIC_EVENTS_RETENTION_DAYS``). A consumer
that already handled an event skips it (idempotency by event id), so a replay rebuilds only what
the consumer lost — e.g. after its own store was reset together with its ``processed_events``.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
from sqlalchemy.engine import URL

from mosaic.events.bus import Bus
from mosaic.events.connections import connect_kwargs
from mosaic.events.consumer import Consumer
from mosaic.events.relay import envelope_of

_PUBLISHED_SINCE = """
SELECT id, position, type, version, occurred_at, tenant_id, actor_id, resource_kind,
       resource_id, correlation_id, traceparent, payload::text AS payload
  FROM outbox_events
 WHERE published_at IS NOT NULL AND occurred_at >= $1 AND position > $2
 ORDER BY position
 LIMIT $3
"""


async def replay_since(
    owner_url: URL,
    bus: Bus,
    *,
    consumer_name: str,
    consumer: Consumer,
    since: datetime,
    batch_size: int = 500,
) -> int:
    """Re-deliver to ``consumer_name`` the published events it handles since ``since``.

    The consumer's queue is declared first: a consumer that has never run has none yet, and a
    broker refuses (RabbitMQ) or cannot find (SQS) a queue that does not exist.
    """
    await bus.subscribe(consumer_name, consumer.event_types)
    connection = await asyncpg.connect(
        **connect_kwargs(owner_url, application_name="mosaic-replay"), timeout=10
    )
    replayed, after = 0, 0
    try:
        while True:
            rows = await connection.fetch(_PUBLISHED_SINCE, since, after, batch_size)
            if not rows:
                return replayed
            after = rows[-1]["position"]
            envelopes = [
                envelope
                for envelope in (envelope_of(row) for row in rows)
                if consumer.accepts(envelope.type)
            ]
            await bus.publish_to(consumer_name, envelopes)
            replayed += len(envelopes)
    finally:
        await connection.close()
