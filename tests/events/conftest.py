"""Fixtures for the event bus: a bus per backend in ``BUS_BACKENDS``, a witness table that
counts handler effects, and helpers that write events and wait for their effects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, ClassVar, Protocol
from uuid import UUID, uuid4

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mosaic.core.database import DatabaseLocation, create_engine, create_sessionmaker
from mosaic.core.settings import (
    EventBusKind,
    EventsSettings,
    RabbitMQSettings,
    Settings,
    SnsSqsSettings,
)
from mosaic.events import DomainEvent, record
from mosaic.events.bus import Bus, Envelope
from mosaic.events.bus_factory import create_bus
from mosaic.events.consumer import Consumer
from mosaic.events.metrics import EventMetrics
from mosaic.events.worker import Worker
from tests.conftest import RABBITMQ_URL
from tests.events.backends.conftest import (
    AWS_REGION,
    BusHarness,
    PostgresHarness,
    RabbitMQHarness,
    SnsSqsHarness,
)

# The backends the end-to-end suite runs on: PostgreSQL, the machine's RabbitMQ, and SNS/SQS on
# moto's server (AWS is out of reach from the tests).
BUS_BACKENDS = ["postgres", "rabbitmq", "sns-sqs"]

Sessions = async_sessionmaker[AsyncSession]


class ThingHappened(DomainEvent):
    """A test event; ``label`` lets a test tell its events apart."""

    resource_kind: ClassVar[str] = "thing"
    label: str


class OtherThingHappened(DomainEvent):
    resource_kind: ClassVar[str] = "thing"
    label: str


@pytest.fixture
def events_settings() -> EventsSettings:
    """Fast retries and polls, so failure paths finish in a test's time."""
    return EventsSettings(
        max_attempts=3,
        base_backoff_seconds=0.05,
        max_backoff_seconds=0.2,
        concurrency=4,
        prefetch=16,
        poll_interval_seconds=0.5,
    )


def broker_settings(harness: BusHarness, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The settings sections that point the harness's backend at its broker (or moto)."""
    if isinstance(harness, RabbitMQHarness):
        return {
            "rabbitmq": RabbitMQSettings(
                rabbitmq_url=SecretStr(RABBITMQ_URL), rabbitmq_exchange=harness.exchange
            )
        }
    if isinstance(harness, SnsSqsHarness):
        # moto takes any credentials; the bus reads them from the usual AWS chain.
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "tests")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "tests")
        # The region is read by its aliases only (a ``sns_sqs_region=`` keyword is ignored);
        # the harness looks into the queues in its region.
        monkeypatch.setenv("MOSAIC_SNS_SQS_REGION", AWS_REGION)
        return {
            "sns_sqs": SnsSqsSettings(
                sns_sqs_endpoint_url=harness.endpoint_url,
                sns_sqs_topic_name=f"{harness.prefix}events",
                sns_sqs_queue_prefix=harness.prefix,
                sns_sqs_max_receive_count=harness.max_receive_count,
                sns_sqs_wait_seconds=1,
                sns_sqs_visibility_timeout_seconds=5,
            )
        }
    return {}


@pytest.fixture(params=BUS_BACKENDS)
async def bus_harness(
    request: pytest.FixtureRequest, location: DatabaseLocation, owner_sessions: Sessions
) -> AsyncIterator[BusHarness]:
    """The backend under test, on names of this test's own (queues, exchange, topic), deleted
    afterwards; it can also put a raw body into a consumer's queue."""
    backend = str(request.param)
    made: BusHarness
    if backend == "rabbitmq":
        request.getfixturevalue("rabbitmq_url")  # skipped (or failed under CI) if unreachable
        made = RabbitMQHarness()
    elif backend == "sns-sqs":
        made = SnsSqsHarness(endpoint_url=request.getfixturevalue("moto_endpoint"))
    else:
        made = PostgresHarness(location=location, owner_sessions=owner_sessions)
    _CONSUMERS.clear()
    yield made
    made.consumers.update(_CONSUMERS)
    await made.cleanup()


@pytest.fixture
async def bus(
    bus_harness: BusHarness,
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    location: DatabaseLocation,
    events_settings: EventsSettings,
) -> AsyncIterator[Bus]:
    """A started bus of ``bus_harness``'s backend, built by the factory from settings."""
    configured = settings.model_copy(
        update={
            "events": events_settings.model_copy(update={"bus": EventBusKind(bus_harness.name)}),
            **broker_settings(bus_harness, monkeypatch),
        }
    )
    built = create_bus(configured, location)
    await built.start()
    yield built
    await built.close()


@pytest.fixture(scope="session")
async def app_engine(location: DatabaseLocation, settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(location.app_url, settings.database, application_name="events-tests")
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def app_sessions(app_engine: AsyncEngine) -> Sessions:
    return create_sessionmaker(app_engine)


@pytest.fixture(scope="session")
async def effects(owner_sessions: Sessions, settings: Settings) -> str:
    """A table the test handlers append to: one row per applied effect, never deduplicated."""
    role = settings.database.app_role
    async with owner_sessions() as session, session.begin():
        await session.execute(
            text(
                "CREATE TABLE IF NOT EXISTS test_event_effects ("
                " consumer text NOT NULL, event_id text NOT NULL, label text,"
                " bound_tenant text)"
            )
        )
        await session.execute(text(f"GRANT SELECT, INSERT ON test_event_effects TO {role}"))
    return "test_event_effects"


async def apply_effect(session: AsyncSession, envelope: Envelope, consumer: str) -> None:
    await session.execute(
        text(
            "INSERT INTO test_event_effects (consumer, event_id, label, bound_tenant) "
            "VALUES (:consumer, :event_id, :label, current_setting('mosaic.tenant_id', true))"
        ),
        {"consumer": consumer, "event_id": envelope.id, "label": envelope.payload.get("label")},
    )


def effect_handler(consumer: str) -> Callable[[AsyncSession, Envelope], Awaitable[None]]:
    async def handle(session: AsyncSession, envelope: Envelope) -> None:
        await apply_effect(session, envelope, consumer)

    return handle


async def effect_counts(owner_sessions: Sessions, consumer: str) -> dict[str, int]:
    """Effects applied by ``consumer``, by event label."""
    async with owner_sessions() as session:
        rows = await session.execute(
            text(
                "SELECT label, count(*) FROM test_event_effects WHERE consumer = :consumer "
                "GROUP BY label"
            ),
            {"consumer": consumer},
        )
        return {str(label): int(count) for label, count in rows.all()}


# The consumers named in the running test: the harness deletes their queues afterwards.
_CONSUMERS: set[str] = set()


def consumer_name() -> str:
    name = f"test-{uuid4().hex[:12]}"
    _CONSUMERS.add(name)
    return name


async def emit(
    sessions: Sessions,
    tenant_id: UUID,
    labels: list[str],
    *,
    event: type[DomainEvent] = ThingHappened,
) -> None:
    """Write one event per label, in one transaction, through the outbox."""
    async with sessions() as session, session.begin():
        for label in labels:
            await record(
                session,
                event(tenant_id=tenant_id, resource_id=uuid4(), label=label),  # type: ignore[call-arg]
                actor_id="test",
            )


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 15.0) -> None:
    """Poll ``check`` until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def running_worker(
    bus: Bus,
    consumers: dict[str, Consumer],
    *,
    app_sessions: Sessions,
    owner_sessions: Sessions,
    settings: EventsSettings,
    metrics: EventMetrics | None = None,
) -> AsyncIterator[Worker]:
    worker = Worker(
        bus=bus,
        app_sessions=app_sessions,
        owner_sessions=owner_sessions,
        consumers=consumers,
        settings=settings,
        metrics=metrics,
        grace_seconds=5,
    )
    await worker.subscribe()
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)


class StartWorker(Protocol):
    """``running_worker`` on the test's bus, sessions and events settings."""

    def __call__(
        self,
        consumers: dict[str, Consumer],
        *,
        settings: EventsSettings | None = None,
        metrics: EventMetrics | None = None,
    ) -> AbstractAsyncContextManager[Worker]: ...


@pytest.fixture
def start_worker(
    bus: Bus, app_sessions: Sessions, owner_sessions: Sessions, events_settings: EventsSettings
) -> StartWorker:
    """``running_worker`` with what every worker test shares filled in (``settings`` may
    replace the test's events settings)."""

    def start(
        consumers: dict[str, Consumer],
        *,
        settings: EventsSettings | None = None,
        metrics: EventMetrics | None = None,
    ) -> AbstractAsyncContextManager[Worker]:
        return running_worker(
            bus,
            consumers,
            app_sessions=app_sessions,
            owner_sessions=owner_sessions,
            settings=settings or events_settings,
            metrics=metrics,
        )

    return start


def labels(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{index:04d}" for index in range(count)]


class Outcomes:
    """The worker's settled deliveries by outcome (its ``mosaic_events_handled`` counter): what a
    test waits on instead of a queue's length, which only PostgreSQL can tell."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.metrics = EventMetrics.create(self.registry)

    def count(self, consumer: str, outcome: str) -> int:
        value = self.registry.get_sample_value(
            "mosaic_events_handled_total", {"consumer": consumer, "outcome": outcome}
        )
        return int(value or 0)
