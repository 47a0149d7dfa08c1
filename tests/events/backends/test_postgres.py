"""What only the PostgreSQL bus does: its count of deliveries handed out and not settled."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from mosaic.events.bus import Bus
from tests.events.backends.conftest import BusHarness
from tests.events.backends.contract import TIMEOUT_SECONDS, consuming, envelope, subscribed


class _Unreachable:
    """A pool whose every statement fails as a dropped connection does."""

    async def execute(self, *_: object) -> str:
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")


@pytest.mark.parametrize("harness", ["postgres"], indirect=True)
async def test_a_delivery_settled_twice_frees_one_place_not_two(
    harness: BusHarness, bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
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
        third = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(1.0)
        # One delivery in hand and a prefetch of one: the next waits for a settle.
        assert not third.done()
        await bus.ack(second)
        await bus.ack(await third)
