"""The ``audit`` consumer, run by a real worker on the PostgreSQL bus: one row per event, each
written under its own tenant (row-level security checks it), a batch in one statement."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select

from mosaic.core.settings import EventsSettings
from mosaic.events.audit_trail import append_all_to_audit_log, append_to_audit_log
from mosaic.events.bus import Bus, Envelope
from mosaic.events.consumer import ALL_EVENT_TYPES, Consumer
from mosaic.models import EventAuditEntry
from tests.events.conftest import Outcomes, Sessions, StartWorker, consumer_name, eventually

pytestmark = pytest.mark.parametrize("bus_harness", ["postgres"], indirect=True)

AUDIT = Consumer(
    event_types=frozenset({ALL_EVENT_TYPES}),
    handler=append_to_audit_log,
    batch_handler=append_all_to_audit_log,
)


def story_created(tenant: UUID, title: str) -> Envelope:
    return Envelope(
        id=str(uuid4()),
        type="StoryCreated",
        version=1,
        occurred_at=datetime.now(UTC),
        tenant_id=str(tenant),
        actor_id=str(uuid4()),
        resource_kind="story",
        resource_id=str(uuid4()),
        correlation_id="req-1",
        traceparent=None,
        payload={"title": title},
        position=7,
    )


async def test_a_batch_of_two_tenants_events_is_appended_once_each_under_its_tenant(
    bus: Bus, owner_sessions: Sessions, events_settings: EventsSettings, start_worker: StartWorker
) -> None:
    name = consumer_name()
    await bus.subscribe(name, AUDIT.event_types)
    first, second = uuid4(), uuid4()
    sent = [story_created(first, "a"), story_created(second, "b"), story_created(first, "c")]
    await bus.publish_to(name, [*sent, sent[0]])  # the first one delivered twice
    outcomes = Outcomes()
    async with start_worker(
        {name: AUDIT},
        settings=events_settings.model_copy(update={"concurrency": 1}),
        metrics=outcomes.metrics,
    ):

        async def settled() -> bool:
            return outcomes.count(name, "handled") + outcomes.count(name, "duplicate") == 4

        await eventually(settled)

    async with owner_sessions() as session:
        rows = (
            await session.scalars(
                select(EventAuditEntry).where(
                    EventAuditEntry.event_id.in_([UUID(event.id) for event in sent])
                )
            )
        ).all()
    assert outcomes.count(name, "handled") == 3
    assert sorted((row.tenant_id, row.payload["title"]) for row in rows) == sorted(
        [(first, "a"), (second, "b"), (first, "c")]
    )
    [a] = [row for row in rows if row.payload["title"] == "a"]
    assert (a.type, a.position, a.correlation_id, a.actor_id) == (
        "StoryCreated",
        7,
        "req-1",
        sent[0].actor_id,
    )
