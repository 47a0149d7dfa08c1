"""The bus contract, the same for every backend (the ``harness`` fixture's params)."""

from __future__ import annotations

import asyncio
import time

from mosaic.events.bus import Bus
from mosaic.events.consumer import ALL_EVENT_TYPES
from tests.events.backends.conftest import BusHarness
from tests.events.backends.contract import (
    TIMEOUT_SECONDS,
    consuming,
    envelope,
    nothing_for,
    subscribed,
    take,
)

QUIET_SECONDS = 2.0


async def nothing_after_reopening(harness: BusHarness, bus: Bus, consumer: str) -> None:
    """Close ``bus`` and open the backend afresh: ``consumer`` receives nothing."""
    await bus.close()
    reopened = harness.open()
    await reopened.start()
    try:
        await nothing_for(reopened, consumer, QUIET_SECONDS)
    finally:
        await reopened.close()


async def test_a_published_envelope_reaches_its_subscriber_unchanged(
    harness: BusHarness, bus: Bus
) -> None:
    consumer = await subscribed(harness, bus, ["StoryCreated"])
    sent = envelope()

    await bus.publish([sent])

    [delivery] = await take(bus, consumer, 1)
    assert delivery.envelope == sent
    assert (delivery.consumer, delivery.attempt, delivery.error) == (consumer, 1, None)


async def test_types_nobody_subscribed_to_are_not_delivered(harness: BusHarness, bus: Bus) -> None:
    consumer = await subscribed(harness, bus, ["StoryCreated"])
    wanted = envelope("StoryCreated")

    await bus.publish([envelope("MediaUploaded"), wanted, envelope("LegacyCreated")])

    [delivery] = await take(bus, consumer, 1)
    assert delivery.envelope == wanted
    await nothing_for(bus, consumer, QUIET_SECONDS)


async def test_every_subscribed_consumer_gets_its_own_copy(harness: BusHarness, bus: Bus) -> None:
    stories = await subscribed(harness, bus, ["StoryCreated"], role="stories")
    everything = await subscribed(harness, bus, ["StoryCreated", "MediaUploaded"], role="all")
    story, media = envelope("StoryCreated"), envelope("MediaUploaded")

    await bus.publish([story, media])

    assert [d.envelope for d in await take(bus, stories, 1)] == [story]
    received = {d.envelope.id for d in await take(bus, everything, 2) if d.envelope}
    assert received == {story.id, media.id}
    await nothing_for(bus, stories, QUIET_SECONDS)


async def test_an_acknowledged_delivery_never_comes_back(harness: BusHarness, bus: Bus) -> None:
    consumer = await subscribed(harness, bus, ["StoryCreated"])
    await bus.publish([envelope()])
    await take(bus, consumer, 1)
    await nothing_after_reopening(harness, bus, consumer)


async def test_an_unacknowledged_delivery_comes_back_after_close_and_reopen(
    harness: BusHarness, bus: Bus
) -> None:
    consumer = await subscribed(harness, bus, ["StoryCreated"])
    sent = envelope()
    await bus.publish([sent])
    [first] = await take(bus, consumer, 1, ack=False)
    await bus.close()

    reopened = harness.open()
    await reopened.start()
    try:
        [again] = await take(reopened, consumer, 1)
    finally:
        await reopened.close()
    assert first.envelope == again.envelope == sent


async def test_ack_all_acknowledges_every_one_of_them(harness: BusHarness, bus: Bus) -> None:
    consumer = await subscribed(harness, bus, ["StoryCreated"])
    await bus.publish([envelope(), envelope(), envelope()])
    # Settled on the stream that received them (a broker's channel closes with it).
    async with asyncio.timeout(TIMEOUT_SECONDS), consuming(bus, consumer) as stream:
        await bus.ack_all([await anext(stream) for _ in range(3)])
    await nothing_after_reopening(harness, bus, consumer)


async def test_a_consumer_holding_its_prefetch_takes_the_next_once_it_settles_some(
    harness: BusHarness, bus: Bus
) -> None:
    consumer = await subscribed(harness, bus, ["StoryCreated"])
    await bus.publish([envelope(), envelope()])
    later = envelope()

    async with asyncio.timeout(TIMEOUT_SECONDS), consuming(bus, consumer, prefetch=2) as stream:
        held = [await anext(stream), await anext(stream)]
        # Published while the consumer is full: it waits (and lets the loop run) until then.
        waiting = asyncio.ensure_future(anext(stream))
        await bus.publish([later])
        await asyncio.sleep(0.5)
        assert not waiting.done()
        await bus.ack_all(held)
        third = await waiting
        await bus.ack(third)

    assert third.envelope == later


async def test_retry_redelivers_after_the_delay_and_not_before_with_the_next_attempt(
    harness: BusHarness, bus: Bus
) -> None:
    consumer = await subscribed(harness, bus, ["StoryCreated"])
    sent = envelope()
    await bus.publish([sent])
    delay = 2.0

    async with (
        asyncio.timeout(TIMEOUT_SECONDS),
        consuming(bus, consumer) as stream,
    ):
        first = await anext(stream)
        retried_at = time.monotonic()
        await bus.retry(first, delay_seconds=delay, reason="search index unavailable")
        second = await anext(stream)
        waited = time.monotonic() - retried_at
        await bus.ack(second)

    assert second.envelope == sent
    assert (first.attempt, second.attempt) == (1, 2)
    assert waited >= delay - 0.05, waited


async def test_dead_letter_takes_it_off_the_live_queue_into_the_broker_dlq(
    harness: BusHarness, bus: Bus
) -> None:
    consumer = await subscribed(harness, bus, ["StoryCreated"])
    sent = envelope()
    await bus.publish([sent])

    async with (
        asyncio.timeout(TIMEOUT_SECONDS),
        consuming(bus, consumer) as stream,
    ):
        await bus.dead_letter(await anext(stream), reason="handler raised KeyError")
    await nothing_after_reopening(harness, bus, consumer)
    if harness.name == "postgres":
        # PostgreSQL has no broker to watch: its dead_letter only takes the row off the queue
        # (checked above); the worker keeps the letter in event_dead_letters, as for every bus.
        return
    assert await harness.dead_letters(consumer) == [sent.to_json()]


async def test_publish_to_reaches_only_that_consumer(harness: BusHarness, bus: Bus) -> None:
    target = await subscribed(harness, bus, ["StoryCreated"], role="target")
    bystander = await subscribed(harness, bus, ["StoryCreated"], role="bystander")
    replayed = envelope("StoryCreated")

    await bus.publish_to(target, [replayed])

    assert [d.envelope for d in await take(bus, target, 1)] == [replayed]
    await nothing_for(bus, bystander, QUIET_SECONDS)


async def test_publish_to_reaches_a_consumer_whatever_it_subscribed(
    harness: BusHarness, bus: Bus
) -> None:
    consumer = await subscribed(harness, bus, ["StoryCreated"])
    replayed = envelope("MediaProcessed")

    await bus.publish_to(consumer, [replayed])

    assert [d.envelope for d in await take(bus, consumer, 1)] == [replayed]


async def test_a_malformed_body_is_delivered_with_its_error(harness: BusHarness, bus: Bus) -> None:
    consumer = await subscribed(harness, bus, ["StoryCreated"])

    await harness.inject_raw(consumer, b"not an envelope")

    [delivery] = await take(bus, consumer, 1)
    assert delivery.envelope is None
    assert delivery.raw == b"not an envelope"
    assert delivery.error


async def test_one_aggregates_events_arrive_in_order(harness: BusHarness, bus: Bus) -> None:
    consumer = await subscribed(harness, bus, ["StoryCreated", "StoryUpdated"])
    story = envelope().resource_id
    sent = [envelope("StoryCreated", resource_id=story, position=1)] + [
        envelope("StoryUpdated", resource_id=story, position=position) for position in range(2, 26)
    ]

    await bus.publish(sent[:12])
    await bus.publish(sent[12:])

    received = [d.envelope.position for d in await take(bus, consumer, len(sent)) if d.envelope]
    assert received == list(range(1, 26))


async def test_starting_and_subscribing_again_changes_nothing(
    harness: BusHarness, bus: Bus
) -> None:
    consumer = await subscribed(harness, bus, ["StoryCreated"])
    await bus.start()
    await bus.subscribe(consumer, ["StoryCreated"])
    sent = envelope()

    await bus.publish([sent])

    assert [d.envelope for d in await take(bus, consumer, 1)] == [sent]
    await nothing_for(bus, consumer, QUIET_SECONDS)


async def test_a_subscriber_to_every_type_gets_every_type(harness: BusHarness, bus: Bus) -> None:
    consumer = await subscribed(harness, bus, [ALL_EVENT_TYPES])
    sent = [envelope("StoryCreated"), envelope("Media.Uploaded")]

    await bus.publish(sent)

    received = {d.envelope.id for d in await take(bus, consumer, 2) if d.envelope}
    assert received == {one.id for one in sent}
