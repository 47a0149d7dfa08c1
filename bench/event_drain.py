"""What the background process spends per story event: a backlog of ``StoryCreated`` events
written through the outbox, then drained by the relay and the installation's real consumers
(``event_consumers.consumers``) on the PostgreSQL bus, as ``mosaic serve``'s background process
runs them.

Figures: the drain's events/s, and this process's CPU per event (``time.process_time`` from the
start of the events runtime to the last delivery gone; PostgreSQL's own CPU is not in it), and
the CPU of one ``outbox.record`` call (what the HTTP worker spends to write the event). Each
round starts a fresh runtime (new engines, so cold statement caches, as after a restart).

``python -m bench event-drain`` runs it; ``run(options)`` has the harness's shape.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg

from bench.cluster import migrated_cluster
from bench.machine import describe, load_average
from bench.options import RunOptions
from bench.report import markdown_table, text_table
from mosaic.core.database import DatabaseLocation, create_engine, create_sessionmaker
from mosaic.core.logging import configure_logging
from mosaic.core.settings import DatabaseSettings, ObservabilitySettings, Settings
from mosaic.event_consumers import consumers
from mosaic.events import record
from mosaic.events.connections import connect_kwargs
from mosaic.events.runtime import EventRuntime
from mosaic.stories.events import StoryCreated

NAME = "event-drain"
EVENTS = 2000
# Stories of a few tenants interleaved, as several tenants write at once.
TENANTS = 4

_IN_FLIGHT = """
SELECT (SELECT count(*) FROM outbox_events WHERE published_at IS NULL)
     + (SELECT count(*) FROM event_deliveries)
"""


@dataclass(frozen=True)
class Round:
    events: int
    seconds: float
    cpu_seconds: float
    record_cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds

    @property
    def cpu_ms_per_event(self) -> float:
        return self.cpu_seconds * 1000 / self.events

    @property
    def record_cpu_us(self) -> float:
        return self.record_cpu_seconds * 1_000_000 / self.events


async def _write(settings: Settings, location: DatabaseLocation, count: int) -> float:
    """``count`` StoryCreated events through ``record``, 100 a transaction; record's CPU."""
    engine = create_engine(location.owner_url, settings.database, application_name="bench")
    sessions = create_sessionmaker(engine)
    tenants = [uuid4() for _ in range(TENANTS)]
    spent = 0.0
    try:
        for start in range(0, count, 100):
            async with sessions() as session, session.begin():
                for index in range(start, min(start + 100, count)):
                    event = StoryCreated(
                        tenant_id=tenants[index % TENANTS],
                        resource_id=uuid4(),
                        legacy_id=uuid4(),
                        story_version=1,
                        author_id=uuid4(),
                        visibility="members",
                    )
                    before = time.process_time()
                    await record(session, event, actor_id=str(UUID(int=index)))
                    spent += time.process_time() - before
    finally:
        await engine.dispose()
    return spent


async def _drained(location: DatabaseLocation) -> None:
    connection = await asyncpg.connect(**connect_kwargs(location.owner_url, application_name="b"))
    try:
        # A poll, not an event: what is left is only known to the database.
        while await connection.fetchval(_IN_FLIGHT):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    finally:
        await connection.close()


async def _round(settings: Settings, location: DatabaseLocation, count: int) -> Round:
    record_cpu = await _write(settings, location, count)
    runtime = EventRuntime(settings, location, consumers=consumers(settings))
    started, cpu = time.monotonic(), time.process_time()
    await runtime.start()
    await _drained(location)
    measured = Round(
        events=count,
        seconds=time.monotonic() - started,
        cpu_seconds=time.process_time() - cpu,
        record_cpu_seconds=record_cpu,
    )
    await runtime.stop()
    return measured


async def _all(options: RunOptions, data_dir: Path) -> tuple[list[Round], str]:
    """The rounds, and the PostgreSQL version they ran on."""
    database = DatabaseSettings(data_dir=data_dir, pool_size=10)
    async with migrated_cluster(data_dir, database) as location:
        settings = Settings(database=database)
        count = 200 if options.quick else EVENTS
        await _round(settings, location, 200)  # warm-up: imports, first connections
        rounds = [await _round(settings, location, count) for _ in range(max(1, options.rounds))]
        return rounds, await _server_version(location)


async def _server_version(location: DatabaseLocation) -> str:
    connection = await asyncpg.connect(
        **connect_kwargs(location.owner_url, application_name="mosaic-bench")
    )
    try:
        version: str = await connection.fetchval("SHOW server_version")
        return version
    finally:
        await connection.close()


HEADERS = ["round", "events", "events/s", "CPU ms/event", "record() CPU µs"]


def _rows(rounds: list[Round]) -> list[list[str]]:
    rows = [
        [
            str(index),
            str(r.events),
            f"{r.per_second:.0f}",
            f"{r.cpu_ms_per_event:.2f}",
            f"{r.record_cpu_us:.0f}",
        ]
        for index, r in enumerate(rounds, start=1)
    ]
    rows.append(
        [
            "median",
            str(rounds[0].events),
            f"{statistics.median(r.per_second for r in rounds):.0f}",
            f"{statistics.median(r.cpu_ms_per_event for r in rounds):.2f}",
            f"{statistics.median(r.record_cpu_us for r in rounds):.0f}",
        ]
    )
    return rows


def run(options: RunOptions) -> str:
    """Measure, print, and return the Markdown section."""
    configure_logging(ObservabilitySettings(log_level="WARNING", log_json=False))
    began = load_average()
    with tempfile.TemporaryDirectory(prefix="mosaic-bench-drain-") as directory:
        rounds, version = asyncio.run(_all(options, Path(directory)))
    machine = describe(
        postgres_version=version,
        load_generator="none: the backlog is written, then drained",
        load_average_began=began,
    )
    machine.append(("Load average as measuring ended", load_average()))
    print(text_table(HEADERS, _rows(rounds)))
    return markdown_section(rounds, machine, options)


def markdown_section(
    rounds: list[Round], machine: list[tuple[str, str]], options: RunOptions
) -> str:
    count = rounds[0].events
    return (
        "\n\n".join(
            [
                "## Events: the background process's CPU per story event",
                f"Measured with `python -m bench event-drain --rounds {options.rounds}`.",
                "### Machine",
                markdown_table(("", ""), [[f"**{label}**", value] for label, value in machine]),
                "### Method",
                f"{count:,} `StoryCreated` events of {TENANTS} tenants are written through "
                "`outbox.record` (its CPU per call is the last column: what an HTTP worker spends "
                "to write an event), then drained by a fresh events runtime in this process, as "
                "`mosaic serve`'s background process runs it: the outbox relay, the PostgreSQL "
                "bus and the installation's real consumers (`audit` takes every event). CPU is "
                "this process's (`time.process_time` from the runtime's start to the last "
                "delivery gone); PostgreSQL's own is not in it.",
                "### Results",
                markdown_table(HEADERS, _rows(rounds)),
            ]
        )
        + "\n"
    )
