"""Crashes and outages: ``mosaic worker`` killed mid-batch; PostgreSQL restarted under the relay."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
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
from tests.events.conftest import Sessions, ThingHappened, consumer_name, emit, labels
from tests.events.test_relay import drain
from tests.processes import MOSAIC, mosaic_env

EVENTS = 1500


def start_worker(location: DatabaseLocation, log_path: Path) -> subprocess.Popen[bytes]:
    env = mosaic_env(
        None,
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
    location: DatabaseLocation, owner_sessions: Sessions, log_dir: Path
) -> None:
    tenant = uuid4()
    await emit(owner_sessions, tenant, labels("killed", EVENTS))
    log = log_dir / "worker.log"
    first = start_worker(location, log)
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
    assert handled_before_restart < EVENTS, "the kill came too late to test anything"

    second = start_worker(location, log_dir / "restarted.log")
    try:
        deadline = time.monotonic() + 90
        while await audited(owner_sessions, tenant) < EVENTS:
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
    assert await audited(owner_sessions, tenant) == EVENTS
    assert processed == EVENTS
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
