"""The envelope as it travels on every bus: its JSON body."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from mosaic.events.bus import Envelope


def test_an_envelope_travels_as_its_fields_and_reads_back_equal() -> None:
    sent = Envelope(
        id="0193a0a0-0000-7000-8000-000000000001",
        type="StoryCreated",
        version=1,
        occurred_at=datetime(2026, 12, 6, 11, 0, tzinfo=UTC),
        tenant_id=None,
        actor_id="user-1",
        resource_kind="story",
        resource_id="story-1",
        correlation_id=None,
        traceparent=None,
        payload={"legacy_id": "legacy-1", "tags": ["a", "b"]},
        position=7,
    )

    body = sent.to_json()

    assert json.loads(body) == {
        "id": "0193a0a0-0000-7000-8000-000000000001",
        "type": "StoryCreated",
        "version": 1,
        "occurred_at": "2026-12-06T11:00:00+00:00",
        "tenant_id": None,
        "actor_id": "user-1",
        "resource_kind": "story",
        "resource_id": "story-1",
        "correlation_id": None,
        "traceparent": None,
        "payload": {"legacy_id": "legacy-1", "tags": ["a", "b"]},
        "position": 7,
    }
    assert Envelope.from_json(body) == sent
