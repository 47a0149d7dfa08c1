"""What every contract test needs: envelopes, subscribing through the harness, taking deliveries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from uuid import uuid4

from mosaic.events.bus import Bus, Delivery, Envelope
from tests.events.backends.conftest import BusHarness

TIMEOUT_SECONDS = 15.0


def envelope(
    event_type: str = "StoryCreated", *, resource_id: str | None = None, position: int = 1
) -> Envelope:
    return Envelope(
        id=str(uuid4()),
        type=event_type,
        version=1,
        occurred_at=datetime.now(UTC),
        tenant_id=str(uuid4()),
        actor_id=str(uuid4()),
        resource_kind="Story",
        resource_id=resource_id or str(uuid4()),
        correlation_id="req-1",
        traceparent=None,
        payload={"title": "Grandma's garden", "position": position},
        position=position,
    )


def consumer_name(harness: BusHarness, role: str = "consumer") -> str:
    name = f"{role}-{uuid4().hex[:8]}"
    harness.consumers.add(name)
    return name


async def subscribed(
    harness: BusHarness, bus: Bus, event_types: Collection[str], role: str = "consumer"
) -> str:
    """A new consumer of ``event_types`` (its queues are deleted with the harness)."""
    name = consumer_name(harness, role)
    await bus.subscribe(name, event_types)
    return name


@asynccontextmanager
async def consuming(
    bus: Bus, consumer: str, prefetch: int = 10
) -> AsyncIterator[AsyncIterator[Delivery]]:
    """``bus.consume(...)``, closed on the way out (the port types it as a plain iterator)."""
    deliveries = bus.consume(consumer, prefetch=prefetch)
    try:
        yield deliveries
    finally:
        close = getattr(deliveries, "aclose", None)
        if close is not None:
            await close()


async def take(
    bus: Bus, consumer: str, count: int, *, ack: bool = True, within: float = TIMEOUT_SECONDS
) -> list[Delivery]:
    """The next ``count`` deliveries (acknowledged unless told otherwise)."""
    taken: list[Delivery] = []
    if count == 0:
        return taken
    async with asyncio.timeout(within), consuming(bus, consumer) as stream:
        async for delivery in stream:
            taken.append(delivery)
            if ack:
                await bus.ack(delivery)
            if len(taken) == count:
                break
    return taken


async def nothing_for(bus: Bus, consumer: str, seconds: float) -> None:
    """Fail if ``consumer`` receives anything within ``seconds``."""
    try:
        extra = await take(bus, consumer, 1, ack=False, within=seconds)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected delivery: {extra[0]}")
