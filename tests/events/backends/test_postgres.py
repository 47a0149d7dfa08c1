"""What only the PostgreSQL bus does: its count of deliveries handed out and not settled."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from mosaic.events.backends.postgres import PostgresBus
from mosaic.events.bus import Bus, Delivery
from tests.events.backends.conftest import BusHarness, PostgresHarness
from tests.events.backends.contract import TIMEOUT_SECONDS, consuming, envelope, subscribed


class _Unreachable:
    """A pool whose every statement fails as a dropped connection does."""

    async def execute(self, *_: object) -> str:
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")


class _Watched:
    """Records the bus's claims, and tells when its consumer waits for a place to free up.

    The consumer waits for room on the event its settles set; a claim made instead of that
    wait is what a miscounted prefetch looks like. Watching for the wait, not sleeping for a
    while, makes the test decide as soon as the consumer has decided."""

    def __init__(self, bus: PostgresBus, consumer: str) -> None:
        self.claims: list[int] = []
        self.waiting_for_room = asyncio.Event()
        self._wake = bus._wake[consumer]
        self._claim = bus._claim
        self._sleep = bus._sleep

    async def claim(self, consumer: str, limit: int) -> list[Delivery]:
        self.claims.append(limit)
        return await self._claim(consumer, limit)

    async def sleep(self, event: asyncio.Event, seconds: float) -> None:
        if event is self._wake and not self.claims:
            self.waiting_for_room.set()
        await self._sleep(event, seconds)


@pytest.mark.parametrize("harness", ["postgres"], indirect=True)
async def test_a_delivery_settled_twice_frees_one_place_not_two(
    harness: BusHarness, bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(bus, PostgresBus)
    consumer = await subscribed(harness, bus, ["StoryCreated"])
    await bus.publish([envelope(), envelope(), envelope()])

    async with (
        asyncio.timeout(TIMEOUT_SECONDS),
        consuming(bus, consumer, prefetch=1) as stream,
    ):
        first = await anext(stream)
        # The worker's path when an ack fails: it retries the delivery, a second settle.
        with monkeypatch.context() as patched:
            patched.setattr(bus, "_connected", _Unreachable)
            with pytest.raises(asyncpg.exceptions.ConnectionDoesNotExistError):
                await bus.ack(first)
        await bus.retry(first, delay_seconds=60, reason="ack failed")

        second = await anext(stream)
        watched = _Watched(bus, consumer)
        monkeypatch.setattr(bus, "_claim", watched.claim)
        monkeypatch.setattr(bus, "_sleep", watched.sleep)
        third = asyncio.ensure_future(anext(stream))
        # One delivery in hand and a prefetch of one: the consumer waits instead of claiming.
        waiting = asyncio.ensure_future(watched.waiting_for_room.wait())
        await asyncio.wait({waiting, third}, return_when=asyncio.FIRST_COMPLETED)
        assert watched.claims == []
        assert waiting.done()
        assert not third.done()

        await bus.ack(second)
        assert (await third).handle not in {first.handle, second.handle}
        assert watched.claims == [1]


@pytest.mark.parametrize("harness", ["postgres"], indirect=True)
async def test_under_a_steady_stream_a_consumers_claims_are_paced_into_batches(
    harness: BusHarness, bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(harness, PostgresHarness)
    paced = PostgresBus(harness.location, poll_interval_seconds=0.5, batch_window_seconds=1.0)
    await paced.start()
    consumer = await subscribed(harness, bus, ["StoryCreated"])
    claimed: list[int] = []
    claim = paced._claim

    async def watched(name: str, limit: int) -> list[Delivery]:
        rows = await claim(name, limit)
        if rows:
            claimed.append(len(rows))
        return rows

    try:
        monkeypatch.setattr(paced, "_claim", watched)
        async with asyncio.timeout(TIMEOUT_SECONDS), consuming(paced, consumer) as stream:
            await bus.publish([envelope()])
            await paced.ack(await anext(stream))
            # Three events, each published on its own as writes commit, within the window
            # that the first, short claim opened: the next claim takes them together.
            for _ in range(3):
                await bus.publish([envelope()])
            for _ in range(3):
                await paced.ack(await anext(stream))
    finally:
        await paced.close()

    assert claimed == [1, 3]
