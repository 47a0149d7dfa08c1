"""Event delivery benchmark: sustained events/s and commit-to-handler latency, per bus backend,
next to a raw PostgreSQL queue (INSERT + NOTIFY, ``FOR UPDATE SKIP LOCKED`` consume) measured in
the same run on the same cluster.

Latency: events written one per transaction at a steady rate; from the producer's commit to
the handler being called (after the relay, the bus and the worker's idempotency insert).
Throughput: a burst written in batches, timed from the first commit to the last handler.
Targets (seed 003): delivery within 100 ms at p50/p95, at least 1,000 messages a minute.

``python -m bench events`` runs it; ``run(options)`` has the harness's shape.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from uuid import uuid4

import asyncpg
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.brokers import RABBITMQ_URL, moto_server
from bench.cluster import migrated_cluster
from bench.machine import measured_on
from bench.options import RunOptions
from bench.report import markdown_table, text_table
from bench.stats import percentile
from mosaic.core.database import DatabaseLocation, create_engine, create_sessionmaker
from mosaic.core.logging import configure_logging
from mosaic.core.settings import (
    DatabaseSettings,
    EventBusKind,
    EventsSettings,
    ObservabilitySettings,
    RabbitMQSettings,
    Settings,
    SnsSqsSettings,
)
from mosaic.events import DomainEvent, record
from mosaic.events.bus import Envelope
from mosaic.events.bus_factory import create_bus
from mosaic.events.connections import connect_kwargs
from mosaic.events.consumer import Consumer
from mosaic.events.relay import Relay
from mosaic.events.worker import Worker

NAME = "events"
# Every bus backend, in one run: RabbitMQ is the machine's broker (``MOSAIC_BENCH_RABBITMQ_URL``),
# SNS/SQS is moto's server in a process of its own (AWS is out of reach here).
BACKENDS = ["postgres", "rabbitmq", "sns-sqs"]
TARGET_P95_MS = 100.0
TARGET_PER_MINUTE = 1000.0


class BenchmarkHappened(DomainEvent):
    resource_kind: ClassVar[str] = "benchmark"
    label: str


@dataclass(frozen=True)
class Figures:
    target: str
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    delivered: int


class Arrivals:
    """When each label was committed and when it was handled (monotonic seconds)."""

    def __init__(self) -> None:
        self.committed: dict[str, float] = {}
        self.handled: dict[str, float] = {}
        self.changed = asyncio.Event()

    def handle(self, label: str) -> None:
        self.handled.setdefault(label, time.monotonic())
        self.changed.set()

    async def wait_for(self, labels: list[str], within: float = 120.0) -> None:
        deadline = time.monotonic() + within
        while not all(label in self.handled for label in labels):
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(labels) - len(self.handled)} events never arrived")
            async with asyncio.timeout(remaining):
                await self.changed.wait()

    def latencies_ms(self, labels: list[str]) -> list[float]:
        return sorted((self.handled[label] - self.committed[label]) * 1000 for label in labels)


Producer = Callable[[list[str]], Awaitable[None]]


async def _measure(
    target: str,
    produce: Producer,
    start_consuming: Callable[[], Awaitable[None]],
    arrivals: Arrivals,
    options: RunOptions,
    *,
    backlog: int = 3000,
) -> Figures:
    # Throughput: a backlog written first (the writers' cost is not the bus's), then drained;
    # from the consumers' start to the last handler.
    print(f"measuring {target}", flush=True)
    burst = [f"burst-{uuid4().hex}" for _ in range(backlog if not options.quick else 300)]
    for index in range(0, len(burst), 100):
        await produce(burst[index : index + 100])
    started = time.monotonic()
    await start_consuming()
    await arrivals.wait_for(burst)
    elapsed = max(arrivals.handled[label] for label in burst) - started
    # Latency: one event per transaction at a steady rate (well below saturation).
    rate = 50.0
    steady = [f"steady-{uuid4().hex}" for _ in range(max(20, int(rate * options.duration_seconds)))]
    for label in steady:
        await produce([label])
        await asyncio.sleep(1 / rate)
    await arrivals.wait_for(steady)
    latencies = arrivals.latencies_ms(steady)
    return Figures(
        target=target,
        per_second=len(burst) / elapsed,
        p50_ms=percentile(latencies, 0.50),
        p95_ms=percentile(latencies, 0.95),
        p99_ms=percentile(latencies, 0.99),
        delivered=len(steady) + len(burst),
    )


async def _framework(
    backend: str, settings: Settings, location: DatabaseLocation, options: RunOptions
) -> Figures:
    configured = settings.model_copy(
        update={"events": settings.events.model_copy(update={"bus": EventBusKind(backend)})}
    )
    arrivals = Arrivals()

    async def handler(_: AsyncSession, envelope: Envelope) -> None:
        arrivals.handle(envelope.payload["label"])

    bus = create_bus(configured, location)
    await bus.start()
    owner = create_engine(location.owner_url, settings.database, application_name="bench")
    app = create_engine(location.app_url, settings.database, application_name="bench-worker")
    owner_sessions: async_sessionmaker[AsyncSession] = create_sessionmaker(owner)
    worker = Worker(
        bus=bus,
        app_sessions=create_sessionmaker(app),
        owner_sessions=owner_sessions,
        consumers={
            f"bench-{uuid4().hex[:8]}": Consumer(
                frozenset({BenchmarkHappened.type_name()}), handler
            )
        },
        settings=configured.events,
    )
    await worker.subscribe()
    relay = Relay(
        location.owner_url,
        bus,
        batch_size=configured.events.relay_batch_size,
        batch_window_seconds=configured.events.batch_window_seconds,
    )
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    tenant = uuid4()

    async def start_consuming() -> None:
        tasks.extend([asyncio.create_task(worker.run(stop)), asyncio.create_task(relay.run(stop))])

    async def produce(labels: list[str]) -> None:
        async with owner_sessions() as session, session.begin():
            for label in labels:
                await record(
                    session,
                    BenchmarkHappened(tenant_id=tenant, resource_id=uuid4(), label=label),
                    actor_id="bench",
                )
        committed = time.monotonic()
        for label in labels:
            arrivals.committed[label] = committed

    try:
        return await _measure(
            f"mosaic events ({backend})",
            produce,
            start_consuming,
            arrivals,
            options,
            # moto's SQS handles a few hundred messages a minute: a smaller backlog drains in
            # the time allowed (the rate is per second either way).
            backlog=600 if backend == "sns-sqs" else 3000,
        )
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bus.close()
        await owner.dispose()
        await app.dispose()


async def _raw_baseline(location: DatabaseLocation, options: RunOptions) -> Figures:
    """The floor: one table, INSERT + NOTIFY, a LISTENing consumer that deletes what it takes."""
    kwargs = connect_kwargs(location.owner_url, application_name="bench-raw")
    producer = await asyncpg.connect(**kwargs)
    consumer = await asyncpg.connect(**kwargs)
    listener = await asyncpg.connect(**kwargs)
    await producer.execute(
        "CREATE UNLOGGED TABLE IF NOT EXISTS bench_raw_queue (id bigserial PRIMARY KEY, body text)"
    )
    arrivals = Arrivals()
    wake = asyncio.Event()
    await listener.add_listener("bench_raw", lambda *_: wake.set())
    stop = asyncio.Event()

    async def consume() -> None:
        while not stop.is_set():
            rows = await consumer.fetch(
                "DELETE FROM bench_raw_queue WHERE id IN (SELECT id FROM bench_raw_queue "
                "ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED) RETURNING body"
            )
            for row in rows:
                arrivals.handle(row["body"])
            if not rows:
                wake.clear()
                try:
                    async with asyncio.timeout(1.0):
                        await wake.wait()
                except TimeoutError:
                    pass

    async def produce(labels: list[str]) -> None:
        async with producer.transaction():
            await producer.execute(
                "INSERT INTO bench_raw_queue (body) SELECT unnest($1::text[])", labels
            )
            await producer.execute("NOTIFY bench_raw")
        committed = time.monotonic()
        for label in labels:
            arrivals.committed[label] = committed

    tasks: list[asyncio.Task[None]] = []

    async def start_consuming() -> None:
        tasks.append(asyncio.create_task(consume()))

    try:
        return await _measure(
            "raw INSERT + SKIP LOCKED", produce, start_consuming, arrivals, options
        )
    finally:
        stop.set()
        wake.set()
        await asyncio.gather(*tasks)
        for connection in (producer, consumer, listener):
            await connection.close()


async def _all(options: RunOptions, data_dir: Path) -> list[Figures]:
    database = DatabaseSettings(pool_size=10)
    async with migrated_cluster(data_dir, database) as location:
        figures = [await _raw_baseline(location, options)]
        with moto_server() as moto_endpoint:
            # moto takes any credentials; the bus reads them from the usual AWS chain.
            os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
            names = f"bench-{uuid4().hex[:8]}"
            settings = Settings(
                database=database,
                events=EventsSettings(poll_interval_seconds=5.0, concurrency=8, prefetch=64),
                rabbitmq=RabbitMQSettings(
                    rabbitmq_url=SecretStr(RABBITMQ_URL), rabbitmq_exchange=f"mosaic.{names}"
                ),
                sns_sqs=SnsSqsSettings(
                    sns_sqs_endpoint_url=moto_endpoint,
                    sns_sqs_region="us-east-1",
                    sns_sqs_topic_name=names,
                    sns_sqs_queue_prefix=f"{names}-",
                ),
            )
            for backend in BACKENDS:
                figures.append(await _framework(backend, settings, location, options))
        return figures


def _rows(figures: list[Figures]) -> list[list[str]]:
    return [
        [
            figure.target,
            f"{figure.per_second:.0f}",
            f"{figure.per_second * 60:.0f}",
            f"{figure.p50_ms:.1f}",
            f"{figure.p95_ms:.1f}",
            f"{figure.p99_ms:.1f}",
        ]
        for figure in figures
    ]


HEADERS = ["target", "events/s", "events/min", "p50 ms", "p95 ms", "p99 ms"]


def markdown_section(figures: list[Figures], *, measured: str) -> str:
    framework = [figure for figure in figures if figure.target.startswith("mosaic")]
    met = all(
        figure.p95_ms <= TARGET_P95_MS and figure.per_second * 60 >= TARGET_PER_MINUTE
        for figure in framework
    )
    return (
        "## Events: throughput and latency\n\n"
        f"{measured}. Reproduce with `python -m bench events`.\n\n"
        "Sustained throughput (a backlog of events drained: relay, bus, worker, idempotency "
        "record, handler) and commit-to-handler latency (50 events/s, one per transaction); "
        "one embedded PostgreSQL, writers, relay and worker in one process.\n\n"
        f"{markdown_table(HEADERS, _rows(figures))}\n\n"
        f"Targets (seed 003): p50/p95 ≤ {TARGET_P95_MS:.0f} ms and ≥ {TARGET_PER_MINUTE:.0f} "
        f"events/min — {'met' if met else 'NOT met'}.\n"
    )


def run(options: RunOptions) -> str:
    """Measure, print, and return the Markdown section."""
    configure_logging(ObservabilitySettings(log_level="WARNING", log_json=False))
    with tempfile.TemporaryDirectory(prefix="mosaic-bench-events-") as directory:
        figures = asyncio.run(_all(options, Path(directory)))
    print(text_table(HEADERS, _rows(figures)))
    return markdown_section(figures, measured=measured_on())
