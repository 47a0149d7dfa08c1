"""Outbox retention, and the bus factory's choice of backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from mosaic.core.database import DatabaseLocation
from mosaic.core.ids import new_id
from mosaic.core.settings import ConfigurationError, EventBusKind, EventsSettings, Settings
from mosaic.events import bus_factory
from mosaic.events.backends.postgres import PostgresBus
from mosaic.events.retention import purge_published
from mosaic.models import OutboxEvent
from tests.events.conftest import Sessions


async def test_purge_deletes_published_rows_older_than_the_cutoff_and_nothing_unpublished(
    owner_sessions: Sessions,
) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=30)
    ids = {name: new_id() for name in ("old_published", "old_unpublished", "recent_published")}
    published_at = {
        "old_published": long_ago,
        "old_unpublished": None,
        "recent_published": datetime.now(UTC),
    }
    async with owner_sessions() as session, session.begin():
        for name, event_id in ids.items():
            await session.execute(
                insert(OutboxEvent).values(
                    id=event_id,
                    type="RetentionProbed",
                    version=1,
                    occurred_at=long_ago,
                    resource_kind="thing",
                    resource_id=name,
                    payload={},
                    published_at=published_at[name],
                )
            )

    async with owner_sessions() as session, session.begin():
        deleted = await purge_published(session, older_than=datetime.now(UTC) - timedelta(days=7))
        left = set(
            await session.scalars(select(OutboxEvent.id).where(OutboxEvent.id.in_(ids.values())))
        )

    assert deleted >= 1
    assert left == {ids["old_unpublished"], ids["recent_published"]}


def test_the_factory_builds_the_configured_backend(
    settings: Settings, location: DatabaseLocation
) -> None:
    assert isinstance(bus_factory.create_bus(settings, location), PostgresBus)


def test_a_backend_that_is_not_installed_is_a_configuration_error(
    settings: Settings, location: DatabaseLocation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        bus_factory.BACKENDS, EventBusKind.RABBITMQ, ("mosaic.events.backends.nowhere", "Nope")
    )
    configured = settings.model_copy(update={"events": EventsSettings(bus=EventBusKind.RABBITMQ)})

    with pytest.raises(ConfigurationError, match="MOSAIC_EVENTS_BUS=rabbitmq"):
        bus_factory.create_bus(configured, location)


def test_the_bus_is_chosen_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOSAIC_EVENTS_BUS", "sns-sqs")
    monkeypatch.setenv("MOSAIC_RUN_WORKER", "false")

    events = EventsSettings()

    assert (events.bus, events.run_worker) == (EventBusKind.SNS_SQS, False)
