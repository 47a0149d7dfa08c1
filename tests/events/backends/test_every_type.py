"""A subscription to every event type (the audit trail's ``*``) on each broker: any type
arrives, whatever its name."""

from __future__ import annotations

from mosaic.events.bus import Bus
from mosaic.events.consumer import ALL_EVENT_TYPES
from tests.events.backends.conftest import BusHarness
from tests.events.backends.contract import envelope, subscribed, take


async def test_a_subscription_to_every_type_receives_any_type(
    harness: BusHarness, bus: Bus
) -> None:
    consumer = await subscribed(harness, bus, [ALL_EVENT_TYPES])
    sent = [envelope("StoryCreated"), envelope("MediaUploaded"), envelope("Legacy.Renamed")]

    await bus.publish(sent)

    received = {
        delivery.envelope.id for delivery in await take(bus, consumer, 3) if delivery.envelope
    }
    assert received == {item.id for item in sent}
