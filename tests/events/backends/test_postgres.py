"""What only the PostgreSQL bus does: its count of deliveries handed out and not settled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from mosaic.events.backends.postgres import PostgresBus
from tests.events.backends.conftest import PostgresHarness
from tests.events.backends.contract import TIMEOUT_SECONDS, consuming, envelope, subscribed


@pytest.fixture
async def postgres_bus(postgres_harness: PostgresHarness) -> AsyncIterator[PostgresBus]:
    bus = postgres_harness.open()
    await bus.start()
    yield bus
    await bus.close()


class _Unreachable:
    """A pool whose every statement fails as a dropped connection does."""

    async def execute(self, *_: object) -> str:
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")


async def test_a_delivery_settled_twice_frees_one_place_not_two(
    postgres_harness: PostgresHarness, postgres_bus: PostgresBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = await subscribed(postgres_harness, postgres_bus, ["StoryCreated"])
    await postgres_bus.publish([envelope(), envelope(), envelope()])

    async with (
        asyncio.timeout(TIMEOUT_SECONDS),
        consuming(postgres_bus, consumer, prefetch=1) as stream,
    ):
        first = await anext(stream)
        # The worker's path when an ack fails: it retries the delivery, a second settle.
        with monkeypatch.context() as patched:
            patched.setattr(postgres_bus, "_connected", _Unreachable)
            with pytest.raises(asyncpg.exceptions.ConnectionDoesNotExistError):
                await postgres_bus.ack(first)
        await postgres_bus.retry(first, delay_seconds=60, reason="ack failed")

        second = await anext(stream)
        third = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(1.0)
        # One delivery in hand and a prefetch of one: the next waits for a settle.
        assert not third.done()
        await postgres_bus.ack(second)
        await postgres_bus.ack(await third)
