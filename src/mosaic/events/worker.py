"""The consumer runtime: each consumer's deliveries, handled at most ``concurrency`` at a time.

A handler runs in a transaction of the application role bound to the event's tenant (row-level
security applies to it as to a request), together with the ``processed_events`` row for
(consumer, event id): the effect and the proof commit or roll back as one, so a delivery that
arrives twice is applied once. A handler that raises is retried with exponential backoff and
full jitter; after ``max_attempts`` (or at once, for a body that is not an envelope or an event
type the consumer does not handle) the delivery becomes a dead letter in PostgreSQL.

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
from uuid import UUID

import structlog
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.core.database import bind_tenant
from mosaic.core.settings import EventsSettings
from mosaic.events import dead_letters
from mosaic.events.bus import Bus, Delivery
from mosaic.events.consumer import Consumer
from mosaic.events.metrics import EventMetrics
from mosaic.models import ProcessedEvent

logger = structlog.get_logger(__name__)


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
        slots = asyncio.Semaphore(self._settings.concurrency)
        while True:
            deliveries = self._bus.consume(name, prefetch=self._settings.prefetch)
            try:
                async for delivery in deliveries:
                    await slots.acquire()
                    task = asyncio.create_task(self._settle(consumer, delivery))
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)
                    task.add_done_callback(lambda _: slots.release())
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

    async def _settle(self, consumer: Consumer, delivery: Delivery) -> None:
        """Handle one delivery and settle it with the bus; never raises."""
        try:
            outcome = await self._handle(consumer, delivery)
        except Exception as exc:  # the handler's failure, or the database's
            outcome = await self._failed(delivery, reason=f"{type(exc).__name__}: {exc}")
            logger.warning(
                "event_handler_failed",
                consumer=delivery.consumer,
                event_id=delivery.envelope.id if delivery.envelope else None,
                attempt=delivery.attempt,
                outcome=outcome,
                exc_info=True,
            )
        if self._metrics is not None:
            self._metrics.handled.labels(delivery.consumer, outcome).inc()

    async def _handle(self, consumer: Consumer, delivery: Delivery) -> str:
        envelope = delivery.envelope
        if envelope is None:
            return await self._dead_letter(delivery, reason=f"malformed message: {delivery.error}")
        if not consumer.accepts(envelope.type):
            return await self._dead_letter(
                delivery, reason=f"unknown event type {envelope.type!r} for this consumer"
            )
        async with self._app_sessions() as session, session.begin():
            if envelope.tenant_id is not None:
                await bind_tenant(session, UUID(envelope.tenant_id))
            first_time = await session.execute(
                pg_insert(ProcessedEvent)
                .values(consumer=delivery.consumer, event_id=envelope.id)
                .on_conflict_do_nothing()
                .returning(ProcessedEvent.event_id)
            )
            if first_time.first() is not None:
                await consumer.handler(session, envelope)
                outcome = "handled"
            else:
                outcome = "duplicate"
        await self._bus.ack(delivery)
        if self._metrics is not None and outcome == "handled":
            delay = (datetime.now(UTC) - envelope.occurred_at).total_seconds()
            self._metrics.delay.labels(delivery.consumer).observe(max(delay, 0.0))
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
