"""Bus backends under test: each as a harness that opens buses on its own fresh names.

PostgreSQL is the test session's embedded cluster (its queue tables; this harness's consumers'
rows are deleted afterwards); RabbitMQ is the machine's broker (127.0.0.1:5672, guest/guest);
SNS/SQS is moto's server, started as a separate process on a free port (AWS is out of reach).
Under ``CI=true`` a broker that cannot be reached fails the tests instead of skipping them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Protocol
from uuid import uuid4

import aio_pika
import aioboto3
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.core.database import DatabaseLocation
from mosaic.events.backends.postgres import PostgresBus
from mosaic.events.backends.rabbitmq import RabbitMQBus
from mosaic.events.backends.sns_sqs import SnsSqsBus
from mosaic.events.bus import Bus
from mosaic.models import EventDelivery, EventSubscription
from tests.conftest import RABBITMQ_URL

AWS_REGION = "us-east-1"


class BusHarness(Protocol):
    """One backend with its own names: new buses on them, and a look into the broker."""

    name: str
    # The consumers a test subscribed, so cleanup knows their queues.
    consumers: set[str]

    def open(self) -> Bus:
        """A new, not yet started bus on this harness's exchange/topic and queues."""
        ...

    async def inject_raw(self, consumer: str, body: bytes) -> None:
        """Put ``body`` as is into ``consumer``'s queue, bypassing the envelope."""

    async def dead_letters(self, consumer: str) -> list[bytes]:
        """The bodies in ``consumer``'s broker dead-letter queue (consumed)."""
        ...

    async def cleanup(self) -> None:
        """Delete everything this harness declared."""


@dataclass
class PostgresHarness:
    """The PostgreSQL bus: its queue is a table, so there is no broker dead-letter queue.

    The lease is short so that a delivery taken and not acknowledged before a close comes back
    within a test's time (a broker requeues it at once; PostgreSQL waits for the lease).
    """

    location: DatabaseLocation
    owner_sessions: async_sessionmaker[AsyncSession]
    name: str = "postgres"
    lease_seconds: float = 2.0
    consumers: set[str] = field(default_factory=set)

    def open(self) -> PostgresBus:
        return PostgresBus(
            self.location, poll_interval_seconds=0.5, lease_seconds=self.lease_seconds
        )

    async def inject_raw(self, consumer: str, body: bytes) -> None:
        async with self.owner_sessions() as session, session.begin():
            session.add(EventDelivery(consumer=consumer, body=body.decode()))

    async def dead_letters(self, consumer: str) -> list[bytes]:
        """Always empty: the PostgreSQL bus keeps no dead letters of its own (the worker keeps
        them in ``event_dead_letters`` for every backend)."""
        return []

    async def cleanup(self) -> None:
        if not self.consumers:
            return
        async with self.owner_sessions() as session, session.begin():
            for table in (EventDelivery, EventSubscription):
                await session.execute(delete(table).where(table.consumer.in_(self.consumers)))


@dataclass
class RabbitMQHarness:
    name: str = "rabbitmq"
    exchange: str = field(default_factory=lambda: f"test.{uuid4().hex[:12]}")
    consumers: set[str] = field(default_factory=set)

    def open(self) -> RabbitMQBus:
        return RabbitMQBus(RABBITMQ_URL, exchange=self.exchange, prefetch=10)

    async def _with_channel(
        self, work: Callable[[aio_pika.abc.AbstractChannel], Awaitable[None]]
    ) -> None:
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            await work(await connection.channel())

    async def inject_raw(self, consumer: str, body: bytes) -> None:
        async def send(channel: aio_pika.abc.AbstractChannel) -> None:
            await channel.default_exchange.publish(
                aio_pika.Message(body), routing_key=f"{self.exchange}.{consumer}"
            )

        await self._with_channel(send)

    async def dead_letters(self, consumer: str) -> list[bytes]:
        bodies: list[bytes] = []

        async def drain(channel: aio_pika.abc.AbstractChannel) -> None:
            queue = await channel.declare_queue(f"{self.exchange}.{consumer}.dlq", passive=True)
            while (message := await queue.get(fail=False, no_ack=True)) is not None:
                bodies.append(message.body)

        await self._with_channel(drain)
        return bodies

    async def cleanup(self) -> None:
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            for consumer in self.consumers:
                for suffix in ("", ".dlq"):
                    channel = await connection.channel()
                    with suppress(aio_pika.exceptions.AMQPError):
                        await channel.queue_delete(f"{self.exchange}.{consumer}{suffix}")
            channel = await connection.channel()
            with suppress(aio_pika.exceptions.AMQPError):
                await channel.exchange_delete(self.exchange)


@dataclass
class SnsSqsHarness:
    endpoint_url: str
    name: str = "sns-sqs"
    prefix: str = field(default_factory=lambda: f"t{uuid4().hex[:10]}-")
    max_receive_count: int = 3
    consumers: set[str] = field(default_factory=set)

    @property
    def session(self) -> aioboto3.Session:
        return aioboto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=AWS_REGION
        )

    def open(self) -> SnsSqsBus:
        return SnsSqsBus(
            topic_name=f"{self.prefix}events",
            queue_prefix=self.prefix,
            region=AWS_REGION,
            endpoint_url=self.endpoint_url,
            max_receive_count=self.max_receive_count,
            visibility_timeout_seconds=30,
            wait_seconds=1,
            session=self.session,
        )

    async def inject_raw(self, consumer: str, body: bytes) -> None:
        async with self.session.client("sqs", endpoint_url=self.endpoint_url) as sqs:
            url = (await sqs.get_queue_url(QueueName=f"{self.prefix}{consumer}"))["QueueUrl"]
            await sqs.send_message(QueueUrl=url, MessageBody=body.decode())

    async def dead_letters(self, consumer: str) -> list[bytes]:
        bodies: list[bytes] = []
        async with self.session.client("sqs", endpoint_url=self.endpoint_url) as sqs:
            url = (await sqs.get_queue_url(QueueName=f"{self.prefix}{consumer}-dlq"))["QueueUrl"]
            while True:
                response = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
                messages = response.get("Messages", [])
                if not messages:
                    return bodies
                for message in messages:
                    bodies.append(message.get("Body", "").encode())
                    await sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    async def cleanup(self) -> None:
        async with self.session.client("sqs", endpoint_url=self.endpoint_url) as sqs:
            listed = await sqs.list_queues(QueueNamePrefix=self.prefix)
            for url in listed.get("QueueUrls", []):
                await sqs.delete_queue(QueueUrl=url)
        async with self.session.client("sns", endpoint_url=self.endpoint_url) as sns:
            topics = await sns.list_topics()
            for topic in topics.get("Topics", []):
                arn = topic.get("TopicArn", "")
                if arn.endswith(f":{self.prefix}events"):
                    await sns.delete_topic(TopicArn=arn)


@pytest.fixture
async def postgres_harness(
    location: DatabaseLocation, owner_sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[PostgresHarness]:
    """The PostgreSQL bus on the session's database, this test's consumers' rows deleted after."""
    made = PostgresHarness(location=location, owner_sessions=owner_sessions)
    yield made
    await made.cleanup()


@pytest.fixture
async def rabbitmq_harness(rabbitmq_url: str) -> AsyncIterator[RabbitMQHarness]:
    """RabbitMQ on an exchange and queues of this test's own, deleted afterwards."""
    made = RabbitMQHarness()
    yield made
    await made.cleanup()


@pytest.fixture
async def sns_sqs_harness(moto_endpoint: str) -> AsyncIterator[SnsSqsHarness]:
    """moto's SNS/SQS on a topic and queues of this test's own, deleted afterwards."""
    made = SnsSqsHarness(endpoint_url=moto_endpoint)
    yield made
    await made.cleanup()


# The contract's backends: a param names the fixture that makes its harness.
HARNESSES = {
    "postgres": "postgres_harness",
    "rabbitmq": "rabbitmq_harness",
    "sns-sqs": "sns_sqs_harness",
}


@pytest.fixture(params=list(HARNESSES))
def harness(request: pytest.FixtureRequest) -> BusHarness:
    """Each backend in turn."""
    made: BusHarness = request.getfixturevalue(HARNESSES[request.param])
    return made


@pytest.fixture
async def bus(harness: BusHarness) -> AsyncIterator[Bus]:
    """A started bus of the harness's backend, closed afterwards."""
    opened = harness.open()
    await opened.start()
    yield opened
    await opened.close()
