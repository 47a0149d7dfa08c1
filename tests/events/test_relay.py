"""The outbox relay: order, wake-up by NOTIFY, several relays at once, crashes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Collection, Sequence
from uuid import uuid4

import pytest
from sqlalchemy import select

from mosaic.core.database import DatabaseLocation
from mosaic.events.bus import Bus, Delivery, Envelope
from mosaic.events.consumer import Consumer
from mosaic.events.relay import Relay
from mosaic.models import OutboxEvent
from tests.events.conftest import (
    Sessions,
    ThingHappened,
    consumer_name,
    effect_counts,
    effect_handler,
    emit,
    eventually,
    labels,
    running_worker,
)


async def drain(bus: Bus, consumer: str, *, prefix: str, expected: int) -> list[str]:
    """The labels delivered to ``consumer`` (acknowledging each), until ``expected`` arrive and
    a short quiet period passes."""
    seen: list[str] = []
    all_seen = asyncio.Event()

    async def collect() -> None:
        async for delivery in bus.consume(consumer, prefetch=100):
            assert delivery.envelope is not None
            label = delivery.envelope.payload["label"]
            if label.startswith(prefix):
                seen.append(label)
            await bus.ack(delivery)
            if len(seen) >= expected:
                all_seen.set()

    task = asyncio.create_task(collect())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_seen.wait(), timeout=15)
    await asyncio.sleep(0.5)  # anything extra (a duplicate) would arrive now
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return seen


async def publish_all(relay: Relay) -> None:
    while await relay.publish_pending():
        pass


async def test_the_relay_publishes_in_position_order_and_marks_rows_published(
    bus: Bus, location: DatabaseLocation, owner_sessions: Sessions
) -> None:
    consumer = consumer_name()
    await bus.subscribe(consumer, {ThingHappened.type_name()})
    prefix = uuid4().hex[:8]
    tenant = uuid4()
    for batch in range(4):
        await emit(owner_sessions, tenant, labels(f"{prefix}-{batch}", 5))
    relay = Relay(location.owner_url, bus)
    try:
        await publish_all(relay)
    finally:
        await relay.close()

    delivered = await drain(bus, consumer, prefix=prefix, expected=20)

    assert delivered == [
        f"{prefix}-{batch}-{index:04d}" for batch in range(4) for index in range(5)
    ]
    async with owner_sessions() as session:
        unpublished = await session.scalar(
            select(OutboxEvent.id).where(
                OutboxEvent.tenant_id == tenant, OutboxEvent.published_at.is_(None)
            )
        )
    assert unpublished is None


async def test_notify_wakes_the_relay_long_before_its_poll(
    bus: Bus, location: DatabaseLocation, owner_sessions: Sessions
) -> None:
    consumer = consumer_name()
    await bus.subscribe(consumer, {ThingHappened.type_name()})
    relay = Relay(location.owner_url, bus, poll_interval_seconds=60)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.sleep(0.5)  # listening, and caught up with older rows
        prefix = uuid4().hex[:8]
        started = time.monotonic()
        await emit(owner_sessions, uuid4(), [f"{prefix}-only"])
        delivered = await drain(bus, consumer, prefix=prefix, expected=1)
        assert delivered == [f"{prefix}-only"]
        # drain() waits half a second after the arrival; the rest is the wake-up.
        assert time.monotonic() - started < 0.5 + 1.0
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def test_two_relays_at_once_publish_every_event_exactly_once(
    bus: Bus, location: DatabaseLocation, owner_sessions: Sessions
) -> None:
    consumer = consumer_name()
    await bus.subscribe(consumer, {ThingHappened.type_name()})
    relays = [Relay(location.owner_url, bus, batch_size=7) for _ in range(2)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop)) for relay in relays]
    prefix = uuid4().hex[:8]
    try:
        await asyncio.gather(
            *(emit(owner_sessions, uuid4(), labels(f"{prefix}-{n}", 10)) for n in range(6))
        )
        delivered = await drain(bus, consumer, prefix=prefix, expected=60)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)

    assert sorted(delivered) == sorted(f"{prefix}-{n}-{i:04d}" for n in range(6) for i in range(10))
    # Each transaction's events stay in their order.
    for n in range(6):
        mine = [label for label in delivered if label.startswith(f"{prefix}-{n}-")]
        assert mine == sorted(mine)


class CrashAfterPublish:
    """A bus that publishes, then fails as if the relay died before marking the rows."""

    def __init__(self, inner: Bus) -> None:
        self.inner = inner
        self.name = inner.name
        self.crashes = 1

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        pass

    async def subscribe(self, consumer: str, event_types: Collection[str]) -> None:
        await self.inner.subscribe(consumer, event_types)

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        await self.inner.publish(envelopes)
        if self.crashes:
            self.crashes -= 1
            raise ConnectionResetError("relay died between publish and mark")

    async def publish_to(self, consumer: str, envelopes: Sequence[Envelope]) -> None:
        await self.inner.publish_to(consumer, envelopes)

    def consume(self, consumer: str, *, prefetch: int) -> AsyncIterator[Delivery]:
        return self.inner.consume(consumer, prefetch=prefetch)

    async def ack(self, delivery: Delivery) -> None:
        await self.inner.ack(delivery)

    async def ack_all(self, deliveries: Sequence[Delivery]) -> None:
        await self.inner.ack_all(deliveries)

    async def retry(self, delivery: Delivery, *, delay_seconds: float, reason: str) -> None:
        await self.inner.retry(delivery, delay_seconds=delay_seconds, reason=reason)

    async def dead_letter(self, delivery: Delivery, *, reason: str) -> None:
        await self.inner.dead_letter(delivery, reason=reason)


async def test_a_crash_between_publish_and_mark_republishes_and_the_consumer_applies_once(
    bus: Bus,
    location: DatabaseLocation,
    owner_sessions: Sessions,
    app_sessions: Sessions,
    events_settings: object,
    effects: str,
) -> None:
    consumer = consumer_name()
    await bus.subscribe(consumer, {ThingHappened.type_name()})
    prefix = uuid4().hex[:8]
    await emit(owner_sessions, uuid4(), labels(prefix, 5))
    crashing = CrashAfterPublish(bus)
    relay = Relay(location.owner_url, crashing)
    try:
        with pytest.raises(ConnectionResetError):
            await relay.publish_pending()
        await publish_all(relay)  # the same rows again: they were never marked
    finally:
        await relay.close()

    consumers = {consumer: Consumer(frozenset({"ThingHappened"}), effect_handler(consumer))}
    async with running_worker(
        bus,
        consumers,
        app_sessions=app_sessions,
        owner_sessions=owner_sessions,
        settings=events_settings,  # type: ignore[arg-type]
    ):

        async def all_applied() -> bool:
            counts = await effect_counts(owner_sessions, consumer)
            return len([label for label in counts if label.startswith(prefix)]) == 5

        await eventually(all_applied)
        await asyncio.sleep(0.5)  # the duplicates are delivered too, and skipped

    counts = await effect_counts(owner_sessions, consumer)
    mine = {label: n for label, n in counts.items() if label.startswith(prefix)}
    assert mine == dict.fromkeys(labels(prefix, 5), 1)


async def test_under_a_steady_stream_the_relays_rounds_are_paced_into_batches(
    bus: Bus, location: DatabaseLocation, owner_sessions: Sessions
) -> None:
    prefix = uuid4().hex[:8]
    rounds: list[list[str]] = []

    class Recording:
        """The bus, and the labels of each publish call that carried this test's events."""

        def __getattr__(self, name: str) -> object:
            return getattr(bus, name)

        async def publish(self, envelopes: Sequence[Envelope]) -> None:
            mine = [e.payload["label"] for e in envelopes if e.payload["label"].startswith(prefix)]
            if mine:
                rounds.append(mine)
            await bus.publish(envelopes)

    relay = Relay(location.owner_url, Recording(), batch_window_seconds=1.0)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.sleep(1.5)  # listening, caught up with older rows, the window passed
        tenant = uuid4()
        await emit(owner_sessions, tenant, [f"{prefix}-first"])

        async def first_published() -> bool:
            return len(rounds) == 1

        await eventually(first_published)
        # Three writes committed one after the other, within the window the first round
        # opened: the next round publishes them together.
        for index in range(3):
            await emit(owner_sessions, tenant, [f"{prefix}-{index}"])

        async def all_published() -> bool:
            return sum(len(labels) for labels in rounds) == 4

        await eventually(all_published)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)

    assert rounds == [[f"{prefix}-first"], [f"{prefix}-0", f"{prefix}-1", f"{prefix}-2"]]
