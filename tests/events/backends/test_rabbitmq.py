"""RabbitMQ beyond the contract: surviving a dropped connection, the delay queues' TTLs."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from uuid import uuid4

import pytest

from mosaic.events.backends.rabbitmq import RabbitMQBus, delay_bucket_ms
from tests.conftest import RABBITMQ_URL, unavailable
from tests.events.backends.conftest import RabbitMQHarness
from tests.events.backends.contract import consuming, envelope, nothing_for, subscribed, take

pytestmark = pytest.mark.timeout(180)


def close_connections_named(connection_name: str) -> int:
    """Make the broker drop our connection, as a broker restart or a network cut would.

    rabbitmqctl, not the management API (not enabled here); its plain listing prints the
    connection's Erlang pid in the form ``close_connection`` accepts (JSON output does not).
    """
    listing = subprocess.run(
        ["rabbitmqctl", "list_connections", "-q", "pid", "client_properties"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    ours = f'{{"connection_name","{connection_name}"}}'
    pids = [line.split("\t", 1)[0] for line in listing.stdout.splitlines() if ours in line]
    for pid in pids:
        subprocess.run(
            ["rabbitmqctl", "close_connection", pid, "test: connection dropped"],
            capture_output=True,
            check=True,
            timeout=60,
        )
    return len(pids)


async def test_a_connection_dropped_mid_stream_loses_no_message(
    rabbitmq_harness: RabbitMQHarness,
) -> None:
    if shutil.which("rabbitmqctl") is None:
        unavailable("rabbitmqctl is not on PATH: cannot drop a connection")
    name = f"mosaic-test-{uuid4().hex[:8]}"
    bus = RabbitMQBus(RABBITMQ_URL, exchange=rabbitmq_harness.exchange, connection_name=name)
    await bus.start()
    try:
        consumer = await subscribed(rabbitmq_harness, bus, ["StoryCreated"])
        before = [envelope() for _ in range(40)]
        await bus.publish(before)
        seen: set[str] = set()
        async with asyncio.timeout(90), consuming(bus, consumer, prefetch=5) as stream:
            async for delivery in stream:
                assert delivery.envelope is not None
                seen.add(delivery.envelope.id)
                await bus.ack(delivery)
                if len(seen) == 10:
                    closed = await asyncio.to_thread(close_connections_named, name)
                    assert closed == 1
                if seen >= {e.id for e in before}:
                    break

        # Publishing works again on the restored connection, and so does consuming.
        after = [envelope() for _ in range(5)]
        await bus.publish(after)
        taken = await take(bus, consumer, len(after))
        assert {d.envelope.id for d in taken if d.envelope} == {e.id for e in after}
    finally:
        await bus.close()


def restart_broker() -> None:
    """Stop and start the RabbitMQ application on its node: every connection drops, and only
    what is durable (the exchange, the queues, persistent messages) is there afterwards."""
    for command in ("stop_app", "start_app"):
        subprocess.run(["rabbitmqctl", command], capture_output=True, check=True, timeout=120)


async def test_a_broker_restarted_mid_stream_loses_no_message(
    rabbitmq_harness: RabbitMQHarness,
) -> None:
    if shutil.which("rabbitmqctl") is None:
        unavailable("rabbitmqctl is not on PATH: cannot restart the broker")
    bus = rabbitmq_harness.open()
    await bus.start()
    try:
        consumer = await subscribed(rabbitmq_harness, bus, ["StoryCreated"])
        before = [envelope() for _ in range(40)]
        await bus.publish(before)
        seen: set[str] = set()
        async with asyncio.timeout(150), consuming(bus, consumer, prefetch=5) as stream:
            async for delivery in stream:
                assert delivery.envelope is not None
                seen.add(delivery.envelope.id)
                await bus.ack(delivery)
                if len(seen) == 10:
                    await asyncio.to_thread(restart_broker)
                if seen >= {e.id for e in before}:
                    break

        after = [envelope() for _ in range(5)]
        await bus.publish(after)
        taken = await take(bus, consumer, len(after))
        assert {d.envelope.id for d in taken if d.envelope} == {e.id for e in after}
    finally:
        await bus.close()


@pytest.mark.parametrize(
    ("delay_seconds", "milliseconds"),
    [(0.0, 1), (0.0004, 1), (0.05, 50), (1.234, 1300), (2.0, 2000), (59.91, 60000)],
)
def test_delay_queues_round_up_to_two_significant_digits(
    delay_seconds: float, milliseconds: int
) -> None:
    assert delay_bucket_ms(delay_seconds) == milliseconds


async def test_settling_on_a_closed_channel_leaves_it_to_the_broker(
    rabbitmq_harness: RabbitMQHarness,
) -> None:
    bus = rabbitmq_harness.open()
    await bus.start()
    try:
        consumer = await subscribed(rabbitmq_harness, bus, ["StoryCreated"])
        sent = envelope()
        await bus.publish([sent])
        # Taken without an ack; closing the stream closes its channel, so the broker requeues.
        [stale] = await take(bus, consumer, 1, ack=False)

        await bus.retry(stale, delay_seconds=0.1, reason="too late")
        await bus.dead_letter(stale, reason="too late")
        await bus.ack(stale)

        [again] = await take(bus, consumer, 1)
        assert (again.envelope, again.attempt) == (sent, 1)
        await nothing_for(bus, consumer, 1.0)
        assert await rabbitmq_harness.dead_letters(consumer) == []
    finally:
        await bus.close()
