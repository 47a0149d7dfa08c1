"""The outbox relay: publishes committed outbox rows to the bus, in ``position`` order.

Publish, then mark: a crash between the two publishes the rows again on the next round, and
consumers absorb the duplicate (they are idempotent by event id). Nothing is marked that was
not published, so nothing is lost.

Several relays may run (one per ``mosaic serve`` / ``mosaic worker``): each round holds a
transaction-level advisory lock, so one relay publishes at a time and events leave in order.
A relay sleeps on ``LISTEN mosaic_outbox`` (the outbox trigger NOTIFYs at commit) and polls
slowly in case a notification was missed; under a steady stream of writes its rounds are paced
(``mosaic.events.pacing``) so that each carries a batch. It never dies of a database outage: it
logs, waits and reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime

import asyncpg
import structlog
from sqlalchemy.engine import URL

from mosaic.events.bus import Bus, Envelope
from mosaic.events.connections import CONNECTION_ERRORS, Listener, connect_kwargs
from mosaic.events.pacing import RoundPacer

logger = structlog.get_logger(__name__)

OUTBOX_CHANNEL = "mosaic_outbox"
# The advisory lock that makes relays take turns (an arbitrary constant, "mosaic outbox").
RELAY_LOCK_KEY = 0x6D6F73616963

_PENDING = """
SELECT id, position, type, version, occurred_at, tenant_id, actor_id, resource_kind,
       resource_id, correlation_id, traceparent, payload::text AS payload
  FROM outbox_events
 WHERE published_at IS NULL
 ORDER BY position
 LIMIT $1
"""


def envelope_of(row: asyncpg.Record) -> Envelope:
    """The bus envelope of one outbox row."""
    occurred_at: datetime = row["occurred_at"]
    return Envelope(
        id=str(row["id"]),
        type=row["type"],
        version=row["version"],
        occurred_at=occurred_at.astimezone(UTC),
        tenant_id=str(row["tenant_id"]) if row["tenant_id"] is not None else None,
        actor_id=row["actor_id"],
        resource_kind=row["resource_kind"],
        resource_id=row["resource_id"],
        correlation_id=row["correlation_id"],
        traceparent=row["traceparent"],
        payload=json.loads(row["payload"]),
        position=row["position"],
    )


class Relay:
    """Moves outbox rows to ``bus``; run :meth:`run` as a task until ``stop`` is set."""

    def __init__(
        self,
        owner_url: URL,
        bus: Bus,
        *,
        batch_size: int = 500,
        poll_interval_seconds: float = 5.0,
        batch_window_seconds: float = 0.0,
    ) -> None:
        self._kwargs = connect_kwargs(owner_url, application_name="mosaic-relay")
        self._bus = bus
        self._batch_size = batch_size
        self._poll_interval = poll_interval_seconds
        self._pacer = RoundPacer(batch_window_seconds)
        self._wake = asyncio.Event()
        self._listener = Listener(
            owner_url, OUTBOX_CHANNEL, lambda _: self._wake.set(), application_name="mosaic-relay"
        )
        self._connection: asyncpg.Connection | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Publish whenever woken, until ``stop``; database outages are waited out."""
        backoff = 0.2
        while not stop.is_set():
            try:
                await self._listener.ensure()
                if (delay := self._pacer.delay()) > 0:
                    await _wait(stop, delay)
                self._wake.clear()
                while True:
                    started_at = self._pacer.start()
                    published = await self.publish_pending()
                    self._pacer.finished(started_at, taken=published, limit=self._batch_size)
                    if published < self._batch_size or stop.is_set():
                        break
                backoff = 0.2
            except CONNECTION_ERRORS as exc:
                logger.warning("relay_database_unavailable", error=str(exc), retry_in=backoff)
                await self._disconnect()
                await _wait(stop, backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            except Exception:
                # The bus refused (a broker down): keep the rows, try again shortly.
                logger.exception("relay_publish_failed", retry_in=backoff)
                await _wait(stop, backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            await _wait_any(stop, self._wake, self._poll_interval)
        await self.close()

    async def publish_pending(self) -> int:
        """One round: publish up to a batch of unpublished rows and mark them; the count."""
        connection = await self._connect()
        async with connection.transaction():
            # Blocking, not try: a relay that waits publishes right after the other one, so a
            # wake-up is never dropped because someone else held the lock.
            await connection.execute("SELECT pg_advisory_xact_lock($1)", RELAY_LOCK_KEY)
            rows = await connection.fetch(_PENDING, self._batch_size)
            if not rows:
                return 0
            envelopes = [envelope_of(row) for row in rows]
            await self._bus.publish(envelopes)
            await connection.execute(
                "UPDATE outbox_events SET published_at = now() WHERE id = ANY($1::uuid[])",
                [row["id"] for row in rows],
            )
        logger.debug("relay_published", count=len(rows))
        return len(rows)

    async def close(self) -> None:
        await self._listener.close()
        await self._disconnect()

    async def _connect(self) -> asyncpg.Connection:
        if self._connection is None or self._connection.is_closed():
            self._connection = await asyncpg.connect(**self._kwargs, timeout=10)
        return self._connection

    async def _disconnect(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(*CONNECTION_ERRORS):
                await connection.close(timeout=2)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
    # races with the event, and the task would never stop.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """Until ``stop`` or ``wake`` is set, or ``seconds`` pass."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
