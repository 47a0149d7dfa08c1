"""The consumer runtime: each consumer's deliveries, handled at most ``concurrency`` at a time.

A handler runs as the application role bound to the event's tenant (row-level security applies
to it as to a request), together with the ``processed_events`` row for (consumer, event id):
the effect and the proof commit or roll back as one, so a delivery that arrives twice is
applied once. A handler that raises is retried with exponential backoff and full jitter; after
``max_attempts`` (or at once, for a body that is not an envelope or an event type the consumer
does not handle) the delivery becomes a dead letter in PostgreSQL.

Deliveries the bus hands out together are handled as a batch: one transaction, each event in a
savepoint of its own (its tenant bound inside it), so a handler that raises rolls back its
event alone, which is retried as above while the others commit; then one acknowledgement for
all. A consumer with a batch handler (the audit trail) skips the savepoints: per tenant in the
batch, one statement binds the tenant and writes every proof, and one call applies the events
seen for the first time; if anything in it raises, the batch is handled again as above, a
savepoint per event. A batch whose transaction fails outside a handler (the commit, a dropped
connection) is handled again one event per transaction. A lane takes at most
``prefetch / concurrency`` deliveries, so that every lane has work.

On stop, the worker takes no new deliveries and lets in-flight handlers finish (up to a grace
period); deliveries it had claimed but not started go back to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import ARRAY, String, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.core.database import TENANT_SETTING
from mosaic.core.settings import EventsSettings
from mosaic.events import dead_letters
from mosaic.events.bus import Bus, Delivery, Envelope
from mosaic.events.consumer import Consumer
from mosaic.events.metrics import EventMetrics

logger = structlog.get_logger(__name__)

# Binds the event's tenant for the rest of the transaction (or savepoint), as
# ``core.database.bind_tenant`` does, and writes the proof; a row back means first time.
# One round trip instead of two, built once; '' is no tenant (``mosaic_current_tenant()`` is
# NULL), which a batch needs so that an event without one never runs under its neighbour's.
_BIND_AND_PROVE = text(
    """
    WITH bound AS (SELECT set_config(:setting, :tenant_id, true))
    INSERT INTO processed_events (consumer, event_id)
    SELECT :consumer, :event_id FROM bound
    ON CONFLICT DO NOTHING
    RETURNING event_id
    """
).bindparams(setting=TENANT_SETTING)


# The same for a batch's events of one tenant: the ids proved now, i.e. seen for the first time.
_BIND_AND_PROVE_ALL = text(
    """
    WITH bound AS (SELECT set_config(:setting, :tenant_id, true))
    INSERT INTO processed_events (consumer, event_id)
    SELECT :consumer, event_id FROM bound, unnest(:event_ids) AS event_id
    ON CONFLICT DO NOTHING
    RETURNING event_id
    """
).bindparams(
    bindparam("setting", TENANT_SETTING),
    bindparam("event_ids", type_=ARRAY(String())),
)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, then a dead letter."""

    max_attempts: int
    base_seconds: float
    max_seconds: float

    @classmethod
    def from_settings(cls, settings: EventsSettings) -> RetryPolicy:
        return cls(
            max_attempts=settings.max_attempts,
            base_seconds=settings.base_backoff_seconds,
            max_seconds=settings.max_backoff_seconds,
        )

    def delay(self, attempt: int) -> float:
        """Seconds before attempt ``attempt + 1``: uniform in [cap/2, cap]."""
        cap: float = min(self.max_seconds, self.base_seconds * 2.0 ** (attempt - 1))
        return cap / 2 + random.uniform(0, cap / 2)  # noqa: S311 - jitter, not a secret


class Worker:
    """Runs ``consumers`` against ``bus`` until stopped (see the module doc)."""

    def __init__(
        self,
        *,
        bus: Bus,
        app_sessions: async_sessionmaker[AsyncSession],
        owner_sessions: async_sessionmaker[AsyncSession],
        consumers: Mapping[str, Consumer],
        settings: EventsSettings,
        metrics: EventMetrics | None = None,
        grace_seconds: float = 30.0,
    ) -> None:
        self._bus = bus
        self._app_sessions = app_sessions
        self._owner_sessions = owner_sessions
        self._consumers = dict(consumers)
        self._settings = settings
        self._retry = RetryPolicy.from_settings(settings)
        self._metrics = metrics
        self._grace = grace_seconds
        self._in_flight: set[asyncio.Task[None]] = set()

    async def subscribe(self) -> None:
        """Declare every consumer's queue (before the relay's first publish, nothing is lost)."""
        for name, consumer in self._consumers.items():
            await self._bus.subscribe(name, consumer.event_types)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, then drain in-flight handlers."""
        await self.subscribe()
        loops = [
            asyncio.create_task(self._consume(name, consumer), name=f"consume:{name}")
            for name, consumer in self._consumers.items()
        ]
        lag = asyncio.create_task(self._report_lag(stop))
        try:
            await stop.wait()
        finally:
            for task in [*loops, lag]:
                task.cancel()
            await asyncio.gather(*loops, lag, return_exceptions=True)
            await self._drain()

    async def _drain(self) -> None:
        if not self._in_flight:
            return
        logger.info("worker_draining", in_flight=len(self._in_flight))
        _, pending = await asyncio.wait(self._in_flight, timeout=self._grace)
        for task in pending:
            task.cancel()  # its delivery is not acknowledged: the bus redelivers it
        await asyncio.gather(*pending, return_exceptions=True)

    async def _consume(self, name: str, consumer: Consumer) -> None:
        lanes = asyncio.Semaphore(self._settings.concurrency)
        most = max(1, self._settings.prefetch // self._settings.concurrency)
        if not consumer.batched:
            most = 1
        while True:
            deliveries = self._bus.consume(name, prefetch=self._settings.prefetch)
            batch: _Batch | None = None
            try:
                async for delivery in deliveries:
                    # What the bus hands out without waiting joins the batch not yet started.
                    if batch is not None and batch.open and len(batch.deliveries) < most:
                        batch.deliveries.append(delivery)
                        continue
                    await lanes.acquire()
                    batch = _Batch([delivery])
                    task = asyncio.create_task(self._settle_batch(consumer, batch))
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)
                    task.add_done_callback(lambda _: lanes.release())
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("consume_failed", consumer=name)
                await asyncio.sleep(1.0)
            finally:
                # Deliveries claimed but not handed out go back to the queue now.
                close = getattr(deliveries, "aclose", None)
                if close is not None:
                    await close()

    async def _settle_batch(self, consumer: Consumer, batch: _Batch) -> None:
        """Handle a batch and settle each delivery with the bus; never raises."""
        usable: list[Delivery] = []
        for delivery in batch.start():
            if _unusable(consumer, delivery) is None:
                usable.append(delivery)
            else:
                await self._settle(consumer, delivery)  # a dead letter at once
        if len(usable) == 1:
            await self._settle(consumer, usable[0])
            return
        if not usable:
            return
        try:
            outcomes = await self._handle_batch(consumer, usable)
        except Exception:
            logger.warning("event_batch_failed", consumer=usable[0].consumer, exc_info=True)
            for delivery in usable:
                await self._settle(consumer, delivery)
            return
        done = [delivery for delivery, outcome in outcomes if not isinstance(outcome, Exception)]
        try:
            if done:
                await self._bus.ack_all(done)
        except Exception:
            # Committed: the bus hands them out again and they are found already handled.
            logger.exception("event_settle_failed", consumer=usable[0].consumer)
            outcomes = [
                (delivery, outcome if isinstance(outcome, Exception) else "unsettled")
                for delivery, outcome in outcomes
            ]
        for delivery, outcome in outcomes:
            if isinstance(outcome, Exception):
                outcome = await self._failed_handler(delivery, outcome)
            self._count(delivery, outcome)

    async def _handle_batch(
        self, consumer: Consumer, deliveries: list[Delivery]
    ) -> list[tuple[Delivery, str | Exception]]:
        """With the batch handler if the consumer has one and it succeeds, else a savepoint
        per delivery. Raises when the transaction itself fails."""
        if consumer.batch_handler is not None:
            try:
                return await self._handle_at_once(consumer, deliveries)
            except Exception:
                logger.info(
                    "event_batch_handled_one_by_one",
                    consumer=deliveries[0].consumer,
                    exc_info=True,
                )
        return await self._handle_together(consumer, deliveries)

    async def _handle_at_once(
        self, consumer: Consumer, deliveries: list[Delivery]
    ) -> list[tuple[Delivery, str | Exception]]:
        """One transaction; per tenant, the proofs in one statement and the events seen for
        the first time in one call of the batch handler. Raises if anything fails."""
        assert consumer.batch_handler is not None
        by_tenant: dict[str, list[Delivery]] = {}
        for delivery in deliveries:
            by_tenant.setdefault(_envelope(delivery).tenant_id or "", []).append(delivery)
        outcomes: dict[int, str] = {}
        async with self._app_sessions() as session, session.begin():
            for tenant_id, group in by_tenant.items():
                proved = await session.execute(
                    _BIND_AND_PROVE_ALL,
                    {
                        "tenant_id": tenant_id,
                        "consumer": group[0].consumer,
                        "event_ids": [_envelope(delivery).id for delivery in group],
                    },
                )
                first_time = set(proved.scalars())
                fresh: list[Envelope] = []
                for delivery in group:
                    envelope = _envelope(delivery)
                    # The same event twice in a batch (a redelivery) is applied once.
                    if envelope.id in first_time:
                        first_time.discard(envelope.id)
                        fresh.append(envelope)
                        outcomes[id(delivery)] = "handled"
                    else:
                        outcomes[id(delivery)] = "duplicate"
                if fresh:
                    await consumer.batch_handler(session, fresh)
        return [(delivery, outcomes[id(delivery)]) for delivery in deliveries]

    async def _handle_together(
        self, consumer: Consumer, deliveries: list[Delivery]
    ) -> list[tuple[Delivery, str | Exception]]:
        """One transaction, a savepoint per delivery; each one's outcome or handler error.

        Raises when the transaction itself fails: then nothing of the batch was committed.
        """
        outcomes: list[tuple[Delivery, str | Exception]] = []
        async with self._app_sessions() as session, session.begin():
            for delivery in deliveries:
                assert delivery.envelope is not None  # _unusable let only envelopes through
                savepoint = await session.begin_nested()
                try:
                    outcome = await self._apply(session, consumer, delivery, delivery.envelope)
                except Exception as exc:
                    # The rollback failing fails the batch: the transaction is gone.
                    await savepoint.rollback()
                    outcomes.append((delivery, exc))
                    continue
                await savepoint.commit()
                outcomes.append((delivery, outcome))
        return outcomes

    async def _settle(self, consumer: Consumer, delivery: Delivery) -> None:
        """Handle one delivery in a transaction of its own and settle it; never raises."""
        try:
            outcome = await self._handle(consumer, delivery)
        except Exception as exc:  # the handler's failure, or the database's
            outcome = await self._failed_handler(delivery, exc)
        self._count(delivery, outcome)

    async def _handle(self, consumer: Consumer, delivery: Delivery) -> str:
        unusable = _unusable(consumer, delivery)
        if unusable is not None:
            return await self._dead_letter(delivery, reason=unusable)
        assert delivery.envelope is not None  # _unusable says so otherwise
        async with self._app_sessions() as session, session.begin():
            outcome = await self._apply(session, consumer, delivery, delivery.envelope)
        await self._bus.ack(delivery)
        return outcome

    async def _apply(
        self, session: AsyncSession, consumer: Consumer, delivery: Delivery, envelope: Envelope
    ) -> str:
        """Bind the tenant, prove and apply the event once; "handled" or "duplicate"."""
        first_time = await session.execute(
            _BIND_AND_PROVE,
            {
                "tenant_id": envelope.tenant_id or "",
                "consumer": delivery.consumer,
                "event_id": envelope.id,
            },
        )
        if first_time.first() is None:
            return "duplicate"
        await consumer.handler(session, envelope)
        return "handled"

    def _count(self, delivery: Delivery, outcome: str) -> None:
        if self._metrics is None:
            return
        self._metrics.handled.labels(delivery.consumer, outcome).inc()
        if outcome == "handled" and delivery.envelope is not None:
            delay = (datetime.now(UTC) - delivery.envelope.occurred_at).total_seconds()
            self._metrics.delay.labels(delivery.consumer).observe(max(delay, 0.0))

    async def _failed_handler(self, delivery: Delivery, exc: Exception) -> str:
        """Retry or dead-letter after a handler (or its transaction) raised ``exc``."""
        outcome = await self._failed(delivery, reason=f"{type(exc).__name__}: {exc}")
        logger.warning(
            "event_handler_failed",
            consumer=delivery.consumer,
            event_id=delivery.envelope.id if delivery.envelope else None,
            attempt=delivery.attempt,
            outcome=outcome,
            exc_info=exc,
        )
        return outcome

    async def _failed(self, delivery: Delivery, *, reason: str) -> str:
        try:
            if delivery.attempt >= self._retry.max_attempts:
                return await self._dead_letter(
                    delivery, reason=f"gave up after {delivery.attempt} attempts: {reason}"
                )
            await self._bus.retry(
                delivery, delay_seconds=self._retry.delay(delivery.attempt), reason=reason
            )
            return "retried"
        except Exception:
            # Nothing settled: the bus hands the delivery out again when its lease ends.
            logger.exception("event_settle_failed", consumer=delivery.consumer)
            return "unsettled"

    async def _dead_letter(self, delivery: Delivery, *, reason: str) -> str:
        async with self._owner_sessions() as session, session.begin():
            await dead_letters.record(session, delivery, reason=reason)
        await self._bus.dead_letter(delivery, reason=reason)
        logger.warning("event_dead_lettered", consumer=delivery.consumer, reason=reason)
        return "dead_lettered"

    async def _report_lag(self, stop: asyncio.Event) -> None:
        """Refresh the lag gauges, when the bus can tell (``waiting(consumer)``)."""
        waiting = getattr(self._bus, "waiting", None)
        if self._metrics is None or waiting is None:
            return
        while not stop.is_set():
            for name in self._consumers:
                with contextlib.suppress(Exception):
                    count, oldest = await waiting(name)
                    self._metrics.waiting.labels(name).set(count)
                    self._metrics.oldest_age.labels(name).set(oldest or 0.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.poll_interval_seconds):
                    await stop.wait()


class _Batch:
    """Deliveries for one lane: the consume loop adds to it until the lane starts on it."""

    def __init__(self, deliveries: list[Delivery]) -> None:
        self.deliveries = deliveries
        self.open = True

    def start(self) -> list[Delivery]:
        self.open = False
        return self.deliveries


def _envelope(delivery: Delivery) -> Envelope:
    assert delivery.envelope is not None  # _unusable let only envelopes through
    return delivery.envelope


def _unusable(consumer: Consumer, delivery: Delivery) -> str | None:
    """Why ``delivery`` goes to dead letters at once, if it does."""
    if delivery.envelope is None:
        return f"malformed message: {delivery.error}"
    if not consumer.accepts(delivery.envelope.type):
        return f"unknown event type {delivery.envelope.type!r} for this consumer"
    return None
