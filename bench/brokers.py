"""Event bus backends: RabbitMQ and SNS/SQS through the bus port, next to each broker's raw
client doing the same work (publish, consume, acknowledge).

``python -m bench.brokers`` measures, prints and rewrites the ``brokers`` section of
docs/benchmarks.md; ``run(options)`` has the harness's shape. Every target publishes in
batches of ``BATCH`` while one consumer consumes and acknowledges, with at most ``WINDOW``
messages in flight, so the queue stays short and the latency is the bus's, not a backlog's.
Each message carries its publish time: latency is publish-to-consume in this one process.
SNS/SQS runs against moto's server (a local process; AWS is not reachable from here), so its
figures measure moto and the framework, not AWS.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, Iterator
from contextlib import AsyncExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit
from uuid import uuid4

import aio_pika
import aioboto3
import httpx

from bench.machine import measured_on
from bench.options import REPOSITORY_ROOT, RunOptions
from bench.report import markdown_table, text_table, write_section
from bench.stats import Measurement, median_measurement, percentile
from mosaic.events.backends.rabbitmq import RabbitMQBus
from mosaic.events.backends.sns_sqs import SnsSqsBus
from mosaic.events.bus import Bus, Envelope

if TYPE_CHECKING:
    from aio_pika.abc import AbstractChannel, AbstractQueue, AbstractRobustConnection
    from types_aiobotocore_sqs.client import SQSClient

NAME = "brokers"
REPORT = REPOSITORY_ROOT / "docs" / "benchmarks.md"
RABBITMQ_URL = os.environ.get("MOSAIC_BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
REGION = "us-east-1"
BATCH = 50
WINDOW = 200
PREFETCH = 50


class Target(Protocol):
    """One way of moving messages: set up, publish stamped messages, yield stamps consumed."""

    label: str

    async def setup(self) -> None: ...

    async def publish(self, stamps: list[float]) -> None: ...

    def consumed(self) -> AsyncGenerator[float]:
        """The publish stamp of each message, once it is acknowledged."""
        ...

    async def teardown(self) -> None: ...


# RabbitMQ ------------------------------------------------------------------------------------


class RawRabbitMQ:
    """aio-pika alone: persistent messages with confirms into one durable queue, acked."""

    label = "RabbitMQ, raw aio-pika"

    def __init__(self) -> None:
        self._queue_name = f"bench.raw.{uuid4().hex[:8]}"
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None

    async def setup(self) -> None:
        self._connection = await aio_pika.connect_robust(RABBITMQ_URL)
        self._channel = await self._connection.channel(publisher_confirms=True)
        self._queue = await self._channel.declare_queue(self._queue_name, durable=True)

    async def publish(self, stamps: list[float]) -> None:
        assert self._channel is not None
        exchange = self._channel.default_exchange
        await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(
                        json.dumps({"sent_at": stamp}).encode(),
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    self._queue_name,
                )
                for stamp in stamps
            )
        )

    async def consumed(self) -> AsyncGenerator[float]:
        assert self._connection is not None
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        queue = await channel.declare_queue(self._queue_name, durable=True)
        async with queue.iterator() as messages:
            async for message in messages:
                await message.ack()
                yield float(json.loads(message.body)["sent_at"])

    async def teardown(self) -> None:
        if self._connection is not None:
            channel = await self._connection.channel()
            await channel.queue_delete(self._queue_name)
            await self._connection.close()


class BusTarget:
    """A backend through the port: publish envelopes, consume deliveries, ack each."""

    def __init__(self, label: str, bus: Bus, cleanup: CleanupHook | None = None) -> None:
        self.label = label
        self._bus = bus
        self._cleanup = cleanup
        self._consumer = f"bench-{uuid4().hex[:8]}"

    async def setup(self) -> None:
        await self._bus.start()
        await self._bus.subscribe(self._consumer, ["BenchmarkPinged"])

    async def publish(self, stamps: list[float]) -> None:
        await self._bus.publish([_envelope(stamp) for stamp in stamps])

    async def consumed(self) -> AsyncGenerator[float]:
        deliveries = self._bus.consume(self._consumer, prefetch=PREFETCH)
        try:
            async for delivery in deliveries:
                await self._bus.ack(delivery)
                if delivery.envelope is not None:
                    yield float(delivery.envelope.payload["sent_at"])
        finally:
            # The port types consume() as an iterator; the backends' are generators.
            close = getattr(deliveries, "aclose", None)
            if close is not None:
                await close()

    async def teardown(self) -> None:
        await self._bus.close()
        if self._cleanup is not None:
            await self._cleanup.run(self._consumer)


class CleanupHook(Protocol):
    async def run(self, consumer: str) -> None: ...


def _envelope(stamp: float) -> Envelope:
    return Envelope(
        id=str(uuid4()),
        type="BenchmarkPinged",
        version=1,
        occurred_at=datetime.now(UTC),
        tenant_id=str(uuid4()),
        actor_id=None,
        resource_kind="Benchmark",
        resource_id=str(uuid4()),
        correlation_id=None,
        traceparent=None,
        payload={"sent_at": stamp},
        position=0,
    )


@dataclass
class RabbitMQCleanup:
    exchange: str

    async def run(self, consumer: str) -> None:
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            for queue in (f"{self.exchange}.{consumer}", f"{self.exchange}.{consumer}.dlq"):
                await channel.queue_delete(queue)
            await channel.exchange_delete(self.exchange)


def _rabbitmq_targets() -> list[Target]:
    exchange = f"bench.{uuid4().hex[:8]}"
    bus = RabbitMQBus(RABBITMQ_URL, exchange=exchange, connection_name="mosaic-bench")
    return [RawRabbitMQ(), BusTarget("RabbitMQ, `RabbitMQBus`", bus, RabbitMQCleanup(exchange))]


# SNS/SQS -------------------------------------------------------------------------------------


def _session() -> aioboto3.Session:
    return aioboto3.Session(
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - moto accepts any credentials
        region_name=REGION,
    )


class RawSqs:
    """aioboto3 alone: SendMessageBatch into one queue, ReceiveMessage, DeleteMessage each."""

    label = "SQS, raw aioboto3"

    def __init__(self, endpoint_url: str) -> None:
        self._endpoint_url = endpoint_url
        self._name = f"bench-raw-{uuid4().hex[:8]}"
        self._client: SQSClient | None = None
        self._stack = AsyncExitStack()
        self._url = ""

    async def setup(self) -> None:
        self._client = await self._stack.enter_async_context(
            _session().client("sqs", endpoint_url=self._endpoint_url)
        )
        self._url = (await self._client.create_queue(QueueName=self._name))["QueueUrl"]

    async def publish(self, stamps: list[float]) -> None:
        assert self._client is not None
        for start in range(0, len(stamps), 10):
            await self._client.send_message_batch(
                QueueUrl=self._url,
                Entries=[
                    {"Id": str(index), "MessageBody": json.dumps({"sent_at": stamp})}
                    for index, stamp in enumerate(stamps[start : start + 10])
                ],
            )

    async def consumed(self) -> AsyncGenerator[float]:
        assert self._client is not None
        while True:
            response = await self._client.receive_message(
                QueueUrl=self._url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for message in response.get("Messages", []):
                await self._client.delete_message(
                    QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"]
                )
                yield float(json.loads(message.get("Body", "{}"))["sent_at"])

    async def teardown(self) -> None:
        if self._client is not None:
            await self._client.delete_queue(QueueUrl=self._url)
        await self._stack.aclose()


def _sns_sqs_targets(endpoint_url: str) -> list[Target]:
    prefix = f"bench-{uuid4().hex[:8]}-"
    bus = SnsSqsBus(
        topic_name=f"{prefix}events",
        queue_prefix=prefix,
        region=REGION,
        endpoint_url=endpoint_url,
        wait_seconds=1,
        session=_session(),
    )
    return [RawSqs(endpoint_url), BusTarget("SNS/SQS, `SnsSqsBus`", bus)]


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's SNS/SQS server as a separate process on a free port."""
    executable = Path(sys.executable).with_name("moto_server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [str(executable), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with suppress(httpx.HTTPError):
                if httpx.get(f"{endpoint}/moto-api/", timeout=1).status_code < 500:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not start on port {port}")
            time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


# Measuring -----------------------------------------------------------------------------------


async def measure_target(target: Target, *, duration_seconds: float) -> Measurement:
    """Publish and consume for ``duration_seconds``; count and time what was consumed."""
    await target.setup()
    try:
        return await _drive(target, duration_seconds)
    finally:
        await target.teardown()


async def _drive(target: Target, duration_seconds: float) -> Measurement:
    in_flight = asyncio.Semaphore(WINDOW)
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + duration_seconds

    async def produce() -> None:
        while time.perf_counter() < deadline:
            for _ in range(BATCH):
                await in_flight.acquire()
            await target.publish([time.perf_counter() for _ in range(BATCH)])

    async def consume() -> None:
        stream = target.consumed()
        try:
            async for stamp in stream:
                now = time.perf_counter()
                in_flight.release()
                if now > deadline:
                    return
                latencies.append((now - stamp) * 1000)
        finally:
            await stream.aclose()

    producer = asyncio.create_task(produce())
    try:
        await asyncio.wait_for(consume(), timeout=duration_seconds + 30)
    finally:
        producer.cancel()
        with suppress(asyncio.CancelledError):
            await producer
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Measurement(
        operations=len(latencies),
        per_second=len(latencies) / min(elapsed, duration_seconds),
        p50_ms=percentile(latencies, 0.50),
        p95_ms=percentile(latencies, 0.95),
        p99_ms=percentile(latencies, 0.99),
    )


def _rabbitmq_reachable() -> bool:
    address = urlsplit(RABBITMQ_URL)
    try:
        socket.create_connection((address.hostname, address.port or 5672), timeout=3).close()
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Result:
    label: str
    measurement: Measurement | None
    baseline: Measurement | None = None
    note: str = ""


async def _measure_all(options: RunOptions, moto_endpoint: str | None) -> list[Result]:
    groups: list[list[Target]] = []
    results: list[Result] = []
    if _rabbitmq_reachable():
        groups.append(_rabbitmq_targets())
    else:
        results.append(Result("RabbitMQ", None, note=f"not measured: no broker at {RABBITMQ_URL}"))
    if moto_endpoint is not None:
        groups.append(_sns_sqs_targets(moto_endpoint))
    else:
        results.append(Result("SNS/SQS", None, note="not measured: moto_server did not start"))
    rounds = max(1, options.rounds)
    for group in groups:
        baseline: Measurement | None = None
        for target in group:
            runs = []
            for number in range(rounds):
                # A fresh target per round: new queue names, nothing left over from the last.
                fresh = target if number == 0 else _fresh(target, moto_endpoint)
                runs.append(await measure_target(fresh, duration_seconds=options.duration_seconds))
                print(
                    f"  {target.label} round {number + 1}: {runs[-1].per_second:,.0f}/s", flush=True
                )
            median = median_measurement(runs)
            results.append(Result(target.label, median, baseline))
            baseline = baseline or median
    return results


def _fresh(target: Target, moto_endpoint: str | None) -> Target:
    """A new instance of ``target``'s kind on names of its own."""
    if isinstance(target, RawRabbitMQ):
        return RawRabbitMQ()
    if isinstance(target, RawSqs) and moto_endpoint is not None:
        return RawSqs(moto_endpoint)
    if target.label.startswith("RabbitMQ"):
        return _rabbitmq_targets()[1]
    if moto_endpoint is not None:
        return _sns_sqs_targets(moto_endpoint)[1]
    raise ValueError(f"cannot renew {target.label}")


def _rows(results: list[Result]) -> list[list[str]]:
    rows = []
    for result in results:
        if result.measurement is None:
            rows.append([result.label, "-", "-", "-", result.note])
            continue
        m = result.measurement
        ratio = (
            f"{m.per_second / result.baseline.per_second:.2f}x of raw"
            if result.baseline is not None and result.baseline.per_second
            else "baseline"
        )
        rows.append(
            [result.label, f"{m.per_second:,.0f}", f"{m.p50_ms:.1f}", f"{m.p95_ms:.1f}", ratio]
        )
    return rows


HEADERS = ("target", "events/s", "p50 ms", "p95 ms", "throughput")


def markdown(results: list[Result], options: RunOptions) -> str:
    """The report section."""
    return (
        "## Event bus backends\n\n"
        f"{measured_on()}; medians of {max(1, options.rounds)} round(s) of "
        f"{options.duration_seconds:g} s. "
        "Reproduce with `python -m bench.brokers`.\n\n"
        f"{markdown_table(HEADERS, _rows(results))}\n\n"
        f"One process publishes batches of {BATCH} and consumes with prefetch {PREFETCH}, "
        f"acknowledging each message, with at most {WINDOW} messages in flight; latency is "
        "publish-to-consume. Raw RabbitMQ publishes persistent messages with confirms into "
        "one durable queue; `RabbitMQBus` adds the topic exchange, envelope JSON and the "
        "port. Raw SQS sends batches of ten straight to a queue; `SnsSqsBus` publishes to an "
        "SNS topic that fans out through a filter policy, so it pays one more hop. SNS/SQS "
        "runs against moto's server, a local Python process: its figures describe moto plus "
        "the framework, and say nothing of AWS's own throughput or latency.\n"
    )


def run(options: RunOptions | None = None) -> str:
    """Measure, print, and return the Markdown section (the harness's benchmark shape)."""
    options = options or RunOptions()
    try:
        with moto_server() as endpoint:
            results = asyncio.run(_measure_all(options, endpoint))
    except RuntimeError:
        results = asyncio.run(_measure_all(options, None))
    print(text_table(HEADERS, _rows(results)))
    return markdown(results, options)


def main() -> None:
    write_section(REPORT, NAME, run())
    print(f"wrote the {NAME} section of {REPORT}", file=sys.stderr)


if __name__ == "__main__":
    main()
