"""Crashes and outages: ``mosaic worker`` killed mid-batch (on every bus); PostgreSQL restarted
under the relay. RabbitMQ restarting mid-stream is in ``backends/test_rabbitmq.py``."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from sqlalchemy import func, select

from mosaic.core.database import DatabaseLocation, create_engine, create_sessionmaker
from mosaic.core.embedded_postgres import EmbeddedPostgres
from mosaic.core.settings import DatabaseSettings
from mosaic.events.backends.postgres import PostgresBus
from mosaic.events.relay import Relay
from mosaic.migrations import runner
from mosaic.models import EventAuditEntry, EventDeadLetter, ProcessedEvent
from tests.conftest import RABBITMQ_URL
from tests.events.backends.conftest import AWS_REGION, BusHarness, RabbitMQHarness, SnsSqsHarness
from tests.events.conftest import (
    BUS_BACKENDS,
    Sessions,
    ThingHappened,
    consumer_name,
    emit,
    labels,
)
from tests.events.test_relay import drain
from tests.processes import MOSAIC, mosaic_env

EVENTS = 1500
# moto handles a few dozen SQS calls a second on this machine: fewer events, still many batches.
SNS_SQS_EVENTS = 150


@dataclass(frozen=True)
class WorkerBus:
    """The bus a ``mosaic worker`` process uses: its environment, and how many events to send."""

    name: str
    env: dict[str, str]
    events: int


@pytest.fixture(params=BUS_BACKENDS)
async def worker_bus(request: pytest.FixtureRequest) -> AsyncIterator[WorkerBus]:
    """Each backend on names of this test's own (the audit consumer's queues deleted after)."""
    backend = str(request.param)
    harness: BusHarness | None = None
    if backend == "rabbitmq":
        request.getfixturevalue("rabbitmq_url")  # skipped (or failed under CI) if unreachable
        rabbitmq = harness = RabbitMQHarness()
        made = WorkerBus(
            backend,
            {
                "MOSAIC_EVENTS_BUS": backend,
                "MOSAIC_RABBITMQ_URL": RABBITMQ_URL,
                "MOSAIC_RABBITMQ_EXCHANGE": rabbitmq.exchange,
            },
            EVENTS,
        )
    elif backend == "sns-sqs":
        sns_sqs = harness = SnsSqsHarness(endpoint_url=request.getfixturevalue("moto_endpoint"))
        made = WorkerBus(
            backend,
            {
                "MOSAIC_EVENTS_BUS": backend,
                "MOSAIC_SNS_SQS_ENDPOINT_URL": sns_sqs.endpoint_url,
                "MOSAIC_SNS_SQS_REGION": AWS_REGION,
                "MOSAIC_SNS_SQS_TOPIC_NAME": f"{sns_sqs.prefix}events",
                "MOSAIC_SNS_SQS_QUEUE_PREFIX": sns_sqs.prefix,
                "MOSAIC_SNS_SQS_WAIT_SECONDS": "1",
                # A killed worker's received messages come back after this.
                "MOSAIC_SNS_SQS_VISIBILITY_TIMEOUT_SECONDS": "5",
                "AWS_ACCESS_KEY_ID": "tests",
                "AWS_SECRET_ACCESS_KEY": "tests",
            },
            SNS_SQS_EVENTS,
        )
    else:
        made = WorkerBus(backend, {}, EVENTS)
    yield made
    if harness is not None:
        harness.consumers.add("audit")
        await harness.cleanup()


def start_worker(
    location: DatabaseLocation, log_path: Path, bus: WorkerBus
) -> subprocess.Popen[bytes]:
    env = mosaic_env(
        None,
        **bus.env,
        MOSAIC_DATABASE_URL=location.owner_url.render_as_string(hide_password=False),
        MOSAIC_DATABASE_MIGRATE_ON_START="false",
        MOSAIC_EVENTS_POLL_INTERVAL_SECONDS="0.5",
        # A killed worker's claimed deliveries come back after this.
        MOSAIC_EVENTS_LEASE_SECONDS="2",
        MOSAIC_LOG_JSON="true",
    )
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [*MOSAIC, "worker", "--consumer", "audit"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def audited(owner_sessions: Sessions, tenant: UUID) -> int:
    async with owner_sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(EventAuditEntry)
            .where(EventAuditEntry.tenant_id == tenant)
        )
        return int(count or 0)


@pytest.fixture
def log_dir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="mosaic-worker-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


# Two worker processes and 1,500 events: minutes on a loaded machine.
@pytest.mark.timeout(600)
async def test_a_worker_killed_mid_batch_loses_nothing_and_applies_nothing_twice(
    location: DatabaseLocation, owner_sessions: Sessions, log_dir: Path, worker_bus: WorkerBus
) -> None:
    events = worker_bus.events
    tenant = uuid4()
    await emit(owner_sessions, tenant, labels("killed", events))
    log = log_dir / "worker.log"
    first = start_worker(location, log, worker_bus)
    try:
        deadline = time.monotonic() + 60
        while await audited(owner_sessions, tenant) == 0:
            assert first.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    handled_before_restart = await audited(owner_sessions, tenant)
    assert handled_before_restart < events, "the kill came too late to test anything"

    second = start_worker(location, log_dir / "restarted.log", worker_bus)
    try:
        deadline = time.monotonic() + 90
        while await audited(owner_sessions, tenant) < events:
            assert second.poll() is None, (log_dir / "restarted.log").read_text()
            assert time.monotonic() < deadline, (log_dir / "restarted.log").read_text()
            await asyncio.sleep(0.1)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0, (log_dir / "restarted.log").read_text()
    finally:
        if second.poll() is None:
            second.kill()

    async with owner_sessions() as session:
        event_ids = select(func.cast(EventAuditEntry.event_id, ProcessedEvent.event_id.type)).where(
            EventAuditEntry.tenant_id == tenant
        )
        processed = await session.scalar(
            select(func.count())
            .select_from(ProcessedEvent)
            .where(ProcessedEvent.consumer == "audit", ProcessedEvent.event_id.in_(event_ids))
        )
        dead = await session.scalar(
            select(func.count())
            .select_from(EventDeadLetter)
            .where(EventDeadLetter.consumer == "audit", EventDeadLetter.event_id.in_(event_ids))
        )
    assert await audited(owner_sessions, tenant) == events
    assert processed == events
    assert dead == 0
    # A redelivered event was recognised, not applied again (which would have failed).
    assert "event_handler_failed" not in (log_dir / "restarted.log").read_text()


@pytest.fixture
def restart_cluster() -> Iterator[EmbeddedPostgres]:
    directory = Path(tempfile.mkdtemp(prefix="mosaic-restart-"))
    cluster = EmbeddedPostgres(directory)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def restart_location(
    restart_cluster: EmbeddedPostgres, database_settings: DatabaseSettings
) -> DatabaseLocation:
    location = DatabaseLocation.for_owner(restart_cluster.url(), database_settings)
    await asyncio.to_thread(runner.upgrade, location.owner_url, database_settings)
    return location


@pytest.mark.timeout(300)
async def test_the_relay_recovers_when_postgresql_restarts_and_loses_nothing(
    restart_cluster: EmbeddedPostgres,
    restart_location: DatabaseLocation,
    database_settings: DatabaseSettings,
) -> None:
    bus = PostgresBus(restart_location, poll_interval_seconds=0.5)
    await bus.start()
    consumer = consumer_name()
    await bus.subscribe(consumer, {ThingHappened.type_name()})
    relay = Relay(restart_location.owner_url, bus, poll_interval_seconds=30)
    stop = asyncio.Event()
    relaying = asyncio.create_task(relay.run(stop))
    engine = create_engine(restart_location.owner_url, database_settings, application_name="t")
    engine.pool._pre_ping = True  # the restart kills pooled connections
    sessions = create_sessionmaker(engine)
    try:
        tenant = uuid4()
        await emit(sessions, tenant, labels("before", 5))
        assert len(await drain(bus, consumer, prefix="before", expected=5)) == 5

        await asyncio.to_thread(restart_cluster.stop_server)
        await asyncio.sleep(1.0)  # the relay notices, and retries against a dead server
        await asyncio.to_thread(restart_cluster.start_server)
        await emit(sessions, tenant, labels("after", 5))

        assert sorted(await drain(bus, consumer, prefix="after", expected=5)) == labels("after", 5)
    finally:
        stop.set()
        await asyncio.wait_for(relaying, timeout=20)
        await bus.close()
        await engine.dispose()
