"""The PostgreSQL bus: a queue table per installation, a row per (event, consumer).

Consumers claim rows with ``FOR UPDATE SKIP LOCKED`` and a lease (``available_at`` moved into
the future, like an SQS visibility timeout), so several workers share a consumer's queue and a
worker that dies mid-batch loses nothing: its leased rows come back when the lease ends.
Retries move ``available_at`` by the backoff. Publishing NOTIFYs ``mosaic_deliveries`` with the
consumer's name, so an idle consumer wakes within milliseconds; a slow poll backs it up. Under a
steady stream, a consumer's claims are paced (``mosaic.events.pacing``) so that each carries a
batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Collection, Sequence
from typing import Self

import asyncpg
import structlog

from mosaic.core.database import DatabaseLocation
from mosaic.core.settings import Settings
from mosaic.events.bus import Delivery, Envelope, MalformedMessage
from mosaic.events.connections import CONNECTION_ERRORS, Listener, connect_kwargs
from mosaic.events.pacing import RoundPacer

logger = structlog.get_logger(__name__)

DELIVERIES_CHANNEL = "mosaic_deliveries"

_FAN_OUT = """
WITH messages AS (
    SELECT m.type, m.body, m.ordinality
      FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS m(type, body, ordinality)
), inserted AS (
    INSERT INTO event_deliveries (consumer, body)
    SELECT s.consumer, m.body
      FROM messages m
      JOIN event_subscriptions s ON m.type = ANY(s.event_types) OR '*' = ANY(s.event_types)
     ORDER BY m.ordinality, s.consumer
    RETURNING consumer
)
SELECT pg_notify('mosaic_deliveries', c.consumer) FROM (SELECT DISTINCT consumer FROM inserted) c
"""

_PUBLISH_TO = """
WITH inserted AS (
    INSERT INTO event_deliveries (consumer, body)
    SELECT $1, m.body FROM unnest($2::text[]) WITH ORDINALITY AS m(body, ordinality)
     ORDER BY m.ordinality
    RETURNING consumer
)
SELECT pg_notify('mosaic_deliveries', $1) WHERE EXISTS (SELECT FROM inserted)
"""

_CLAIM = """
UPDATE event_deliveries d
   SET available_at = now() + make_interval(secs => $3)
  FROM (SELECT id FROM event_deliveries
         WHERE consumer = $1 AND available_at <= now()
         ORDER BY id LIMIT $2
           FOR UPDATE SKIP LOCKED) claimed
 WHERE d.id = claimed.id
RETURNING d.id, d.body, d.attempt
"""

_NEXT_AVAILABLE = """
SELECT extract(epoch FROM min(available_at) - now())::float8
  FROM event_deliveries WHERE consumer = $1
"""


class PostgresBus:
    """The :class:`mosaic.events.bus.Bus` contract on PostgreSQL tables (see module doc)."""

    name = "postgres"

    def __init__(
        self,
        location: DatabaseLocation,
        *,
        poll_interval_seconds: float = 5.0,
        lease_seconds: float = 60.0,
        pool_size: int = 4,
        batch_window_seconds: float = 0.0,
    ) -> None:
        self._url = location.owner_url
        self._poll_interval = poll_interval_seconds
        self._lease = lease_seconds
        self._batch_window = batch_window_seconds
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._wake: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._listener = Listener(
            self._url, DELIVERIES_CHANNEL, self._notified, application_name="mosaic-bus"
        )
        # The deliveries handed out and not settled yet, per consumer (by handle: a delivery
        # settled twice, an ack that failed then a retry, frees one place, not two).
        self._outstanding: dict[str, set[int]] = defaultdict(set)
        self._closed = asyncio.Event()

    @classmethod
    def from_settings(cls, settings: Settings, database: DatabaseLocation) -> Self:
        return cls(
            database,
            poll_interval_seconds=settings.events.poll_interval_seconds,
            lease_seconds=settings.events.lease_seconds,
            batch_window_seconds=settings.events.batch_window_seconds,
        )

    async def start(self) -> None:
        if self._pool is None:
            self._closed.clear()
            self._pool = await asyncpg.create_pool(
                **connect_kwargs(self._url, application_name="mosaic-bus"),
                min_size=1,
                max_size=self._pool_size,
                reset=_nothing_to_reset,
            )
        with contextlib.suppress(*CONNECTION_ERRORS):
            await self._listener.ensure()

    async def close(self) -> None:
        self._closed.set()
        for event in self._wake.values():
            event.set()
        await self._listener.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            with contextlib.suppress(*CONNECTION_ERRORS):
                await asyncio.wait_for(pool.close(), timeout=10)

    async def subscribe(self, consumer: str, event_types: Collection[str]) -> None:
        await self._connected().execute(
            "INSERT INTO event_subscriptions (consumer, event_types) VALUES ($1, $2) "
            "ON CONFLICT (consumer) DO UPDATE SET event_types = excluded.event_types",
            consumer,
            sorted(event_types),
        )

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        if envelopes:
            await self._connected().execute(
                _FAN_OUT,
                [envelope.type for envelope in envelopes],
                [envelope.to_json().decode() for envelope in envelopes],
            )

    async def publish_to(self, consumer: str, envelopes: Sequence[Envelope]) -> None:
        if envelopes:
            await self._connected().execute(
                _PUBLISH_TO, consumer, [envelope.to_json().decode() for envelope in envelopes]
            )

    async def consume(self, consumer: str, *, prefetch: int) -> AsyncIterator[Delivery]:
        """Claim up to ``prefetch`` deliveries at a time; sleep until NOTIFY, a retry or a poll.

        Deliveries claimed but not yet handed out when the consumer stops are released at once.
        """
        wake = self._wake[consumer]
        pacer = RoundPacer(self._batch_window)
        claimed: list[Delivery] = []
        try:
            while not self._closed.is_set():
                room = prefetch - len(self._outstanding[consumer])
                if room <= 0:
                    # Only a settle makes room, and it sets the event again; a NOTIFY that set it
                    # meanwhile would otherwise make this loop spin without ever yielding.
                    wake.clear()
                    await self._sleep(wake, self._poll_interval)
                    continue
                if (delay := pacer.delay()) > 0:
                    await self._sleep(self._closed, delay)
                    continue  # settles meanwhile may have made more room
                wake.clear()
                try:
                    started_at = pacer.start()
                    claimed = await self._claim(consumer, room)
                    pacer.finished(started_at, taken=len(claimed), limit=room)
                except CONNECTION_ERRORS as exc:
                    logger.warning("bus_claim_failed", consumer=consumer, error=str(exc))
                    await self._sleep(self._closed, 1.0)
                    continue
                if not claimed:
                    await self._sleep(wake, await self._idle_wait(consumer))
                    continue
                while claimed:
                    delivery = claimed.pop(0)
                    self._outstanding[consumer].add(delivery.handle)
                    yield delivery
        finally:
            if claimed:
                await self._release(claimed)

    async def ack(self, delivery: Delivery) -> None:
        await self._settle(delivery, "DELETE FROM event_deliveries WHERE id = $1", delivery.handle)

    async def ack_all(self, deliveries: Sequence[Delivery]) -> None:
        """One statement for them all."""
        try:
            await self._connected().execute(
                "DELETE FROM event_deliveries WHERE id = ANY($1::bigint[])",
                [delivery.handle for delivery in deliveries],
            )
        finally:
            for delivery in deliveries:
                self._settled(delivery)

    async def retry(self, delivery: Delivery, *, delay_seconds: float, reason: str) -> None:
        await self._settle(
            delivery,
            "UPDATE event_deliveries SET attempt = attempt + 1, last_error = $2, "
            "available_at = now() + make_interval(secs => $3) WHERE id = $1",
            delivery.handle,
            reason,
            delay_seconds,
        )

    async def dead_letter(self, delivery: Delivery, *, reason: str) -> None:
        # The worker has already written the dead letter; here it only leaves the queue.
        await self.ack(delivery)

    async def waiting(self, consumer: str) -> tuple[int, float | None]:
        """Messages waiting for ``consumer`` and the age in seconds of the oldest (lag)."""
        row = await self._connected().fetchrow(
            "SELECT count(*), extract(epoch FROM now() - min(enqueued_at))::float8 "
            "FROM event_deliveries WHERE consumer = $1",
            consumer,
        )
        assert row is not None
        return int(row[0]), row[1]

    def _connected(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("PostgresBus.start() was not called")
        return self._pool

    async def _settle(self, delivery: Delivery, statement: str, *args: object) -> None:
        try:
            await self._connected().execute(statement, *args)
        finally:
            self._settled(delivery)

    def _settled(self, delivery: Delivery) -> None:
        """Its place is free (even if settling failed: its lease brings it back)."""
        self._outstanding[delivery.consumer].discard(delivery.handle)
        self._wake[delivery.consumer].set()

    async def _claim(self, consumer: str, limit: int) -> list[Delivery]:
        with contextlib.suppress(*CONNECTION_ERRORS):
            await self._listener.ensure()
        rows = await self._connected().fetch(_CLAIM, consumer, limit, self._lease)
        return [_delivery(consumer, row) for row in sorted(rows, key=lambda row: row["id"])]

    async def _idle_wait(self, consumer: str) -> float:
        """Until the next retry falls due, the poll interval at most."""
        try:
            due = await self._connected().fetchval(_NEXT_AVAILABLE, consumer)
        except CONNECTION_ERRORS:
            return 1.0
        if due is None:
            return self._poll_interval if self._listener.connected else 1.0
        return max(0.01, min(float(due), self._poll_interval))

    async def _release(self, deliveries: list[Delivery]) -> None:
        with contextlib.suppress(*CONNECTION_ERRORS, RuntimeError):
            await self._connected().execute(
                "UPDATE event_deliveries SET available_at = now() WHERE id = ANY($1::bigint[])",
                [delivery.handle for delivery in deliveries],
            )

    async def _sleep(self, event: asyncio.Event, seconds: float) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
        # that races with the event, and a stopping consumer would never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()

    def _notified(self, consumer: str) -> None:
        if consumer:
            self._wake[consumer].set()
        else:  # reconnected: anything may have arrived
            for event in self._wake.values():
                event.set()


async def _nothing_to_reset(_: asyncpg.Connection[asyncpg.Record]) -> None:
    """The pool's connections run only this module's statements, which change nothing in the
    session (no SET, LISTEN, cursor or session lock), so nothing needs resetting on release.

    asyncpg's default reset (``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL``) is a round trip of its own after every claim, ack and publish: half of the
    bus's round trips."""


def _delivery(consumer: str, row: asyncpg.Record) -> Delivery:
    body: str = row["body"]
    try:
        envelope: Envelope | None = Envelope.from_json(body)
        error = None
    except MalformedMessage as exc:
        envelope, error = None, str(exc)
    return Delivery(
        consumer=consumer,
        envelope=envelope,
        attempt=row["attempt"],
        raw=body.encode(),
        error=error,
        handle=row["id"],
    )
