"""The RabbitMQ bus: a durable topic exchange, a durable queue per consumer, confirmed publishes.

Topology for exchange ``X`` and consumer ``c`` (all durable)::

    X (topic) --type--> X.c  --reject/expire--> X.c.dlq        (the broker's dead letters)
                         ^
    X.c.delay.<ms> -- per-queue TTL, dead-letters back to X.c  (retries after a delay)

Routing key = event type, so a consumer's queue binds once per subscribed type. Replays
(``publish_to``) and returning retries go through the default exchange straight to ``X.c``.
The attempt number travels in the ``x-mosaic-attempt`` header; a message redelivered after a
crash keeps its number (classic queues count nothing), which is at least once all the same.

The connection is robust (``aio_pika.connect_robust``): after a broker restart or a dropped
connection it reconnects, re-declares and resumes consuming; what was unacknowledged on the
old channel is redelivered by the broker, so acknowledging, retrying or dead-lettering it on
the dead channel is skipped (a copy would be a duplicate).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import suppress
from typing import Any, Self

import aio_pika
import aiormq
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import ChannelInvalidStateError

from mosaic.core.database import Database
from mosaic.core.settings import Settings
from mosaic.events.bus import Delivery, Envelope, MalformedMessage
from mosaic.events.consumer import ALL_EVENT_TYPES

log = structlog.get_logger(__name__)

ATTEMPT_HEADER = "x-mosaic-attempt"
REASON_HEADER = "x-mosaic-reason"
CONSUMER_HEADER = "x-mosaic-consumer"
# Anything failing on a channel that the broker already closed: the message comes back anyway.
_CLOSED_CHANNEL_ERRORS = (ChannelInvalidStateError, aiormq.exceptions.AMQPError, ConnectionError)


def delay_bucket_ms(delay_seconds: float) -> int:
    """The delay queue's TTL: ``delay_seconds`` rounded *up* to two significant digits.

    Rounding up keeps "not before the delay"; two digits keep the number of delay queues
    small although the caller adds jitter (1234 ms waits in the 1300 ms queue).
    """
    milliseconds = max(1, math.ceil(delay_seconds * 1000))
    scale = int(10 ** max(0, len(str(milliseconds)) - 2))
    return math.ceil(milliseconds / scale) * scale


class RabbitMQBus:
    """:class:`mosaic.events.bus.Bus` on RabbitMQ with aio-pika."""

    name = "rabbitmq"

    def __init__(
        self, url: str, *, exchange: str, prefetch: int = 32, connection_name: str = "mosaic"
    ) -> None:
        self._url = url
        # Shown by the broker's tools, so operators see whose connection is whose.
        self._connection_name = connection_name
        self._exchange_name = exchange
        self._default_prefetch = prefetch
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._declared_delays: set[str] = set()
        self._start_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, database: Database) -> Self:
        """The configured bus; ``database`` is unused (RabbitMQ keeps the messages)."""
        section = settings.rabbitmq
        return cls(
            section.rabbitmq_url.get_secret_value(),
            exchange=section.rabbitmq_exchange,
            prefetch=section.rabbitmq_prefetch,
        )

    # Names ---------------------------------------------------------------------------------

    def queue_name(self, consumer: str) -> str:
        return f"{self._exchange_name}.{consumer}"

    def dead_letter_queue_name(self, consumer: str) -> str:
        return f"{self.queue_name(consumer)}.dlq"

    def delay_queue_name(self, consumer: str, delay_ms: int) -> str:
        return f"{self.queue_name(consumer)}.delay.{delay_ms}"

    # Lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (robustly), open the confirming publish channel, declare the exchange."""
        async with self._start_lock:
            if self._connection is not None:
                return
            connection = await aio_pika.connect_robust(
                self._url, client_properties={"connection_name": self._connection_name}
            )
            # Returned (unroutable) mandatory publishes raise: publish_to must reach a queue.
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            self._exchange = await channel.declare_exchange(
                self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
            self._connection, self._channel = connection, channel

    async def close(self) -> None:
        """Close the connection; the broker requeues whatever was not acknowledged."""
        connection, self._connection = self._connection, None
        self._channel = self._exchange = None
        self._declared_delays.clear()
        if connection is not None:
            await connection.close()

    def _publishing(self) -> tuple[AbstractChannel, AbstractExchange]:
        if self._channel is None or self._exchange is None:
            raise RuntimeError("RabbitMQBus.start() was not awaited")
        return self._channel, self._exchange

    # Topology ------------------------------------------------------------------------------

    async def _declare_queue(self, channel: AbstractChannel, consumer: str) -> AbstractQueue:
        """The consumer's queue and its dead-letter queue (declaring again is harmless)."""
        await channel.declare_queue(self.dead_letter_queue_name(consumer), durable=True)
        return await channel.declare_queue(
            self.queue_name(consumer),
            durable=True,
            arguments={
                # A rejected (or expired) message lands in the consumer's DLQ.
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.dead_letter_queue_name(consumer),
            },
        )

    async def subscribe(self, consumer: str, event_types: Collection[str]) -> None:
        """Declare ``consumer``'s queues and bind its queue once per event type.

        Bindings are only added: a type dropped from a consumer stays bound until an operator
        unbinds it (AMQP cannot list bindings; the worker ignores types it has no handler for).
        """
        channel, exchange = self._publishing()
        queue = await self._declare_queue(channel, consumer)
        for event_type in sorted(set(event_types)):
            # A topic exchange's "*" is one word only; every type (dotted or not) is "#".
            routing_key = "#" if event_type == ALL_EVENT_TYPES else event_type
            await queue.bind(exchange, routing_key=routing_key)

    async def _delay_queue(self, consumer: str, delay_ms: int) -> str:
        """A queue whose messages return to the consumer's queue after ``delay_ms``.

        One queue per delay (not per-message expiry in a shared queue): RabbitMQ expires only
        the head of a queue, so a long delay would hold up every shorter one behind it. The
        queue deletes itself once idle well past its TTL (re-declared at each use).
        """
        channel, _ = self._publishing()
        name = self.delay_queue_name(consumer, delay_ms)
        await channel.declare_queue(
            name,
            durable=True,
            arguments={
                "x-message-ttl": delay_ms,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.queue_name(consumer),
                "x-expires": 2 * delay_ms + 60_000,
            },
        )
        return name

    # Publishing ----------------------------------------------------------------------------

    @staticmethod
    def _message(envelope: Envelope, *, attempt: int = 1, **headers: str) -> aio_pika.Message:
        all_headers: dict[str, Any] = {ATTEMPT_HEADER: attempt, **headers}
        if envelope.tenant_id is not None:
            all_headers["tenant_id"] = envelope.tenant_id
        return aio_pika.Message(
            envelope.to_json(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=envelope.id,
            type=envelope.type,
            correlation_id=envelope.correlation_id,
            headers=all_headers,
        )

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Publish to the topic exchange; returns once the broker confirmed every message.

        The publishes are pipelined on one channel, so the broker receives (and each queue
        stores) them in order; a type nobody subscribed to is dropped by the exchange.
        """
        _, exchange = self._publishing()
        await asyncio.gather(
            *(
                exchange.publish(self._message(envelope), envelope.type, mandatory=False)
                for envelope in envelopes
            )
        )

    async def publish_to(self, consumer: str, envelopes: Sequence[Envelope]) -> None:
        """Publish straight into ``consumer``'s queue (the default exchange routes by name)."""
        channel, _ = self._publishing()
        queue = self.queue_name(consumer)
        await asyncio.gather(
            *(
                channel.default_exchange.publish(self._message(envelope), queue, mandatory=True)
                for envelope in envelopes
            )
        )

    # Consuming -----------------------------------------------------------------------------

    async def consume(self, consumer: str, *, prefetch: int) -> AsyncIterator[Delivery]:
        """Deliveries from the consumer's queue on a channel of its own with QoS ``prefetch``.

        A robust channel re-opens and re-subscribes after a reconnect; messages buffered from
        the dead channel are skipped, since the broker redelivers them on the new one.
        """
        if self._connection is None:
            raise RuntimeError("RabbitMQBus.start() was not awaited")
        channel = await self._connection.channel(publisher_confirms=False)
        try:
            await channel.set_qos(prefetch_count=prefetch or self._default_prefetch)
            queue = await self._declare_queue(channel, consumer)
            inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
            tag = await queue.consume(inbox.put)
            try:
                while True:
                    message = await inbox.get()
                    if _from_a_dead_channel(message):
                        continue
                    yield self._delivery(consumer, message)
            finally:
                with suppress(*_CLOSED_CHANNEL_ERRORS):
                    await queue.cancel(tag)
        finally:
            with suppress(*_CLOSED_CHANNEL_ERRORS):
                await channel.close()

    @staticmethod
    def _delivery(consumer: str, message: AbstractIncomingMessage) -> Delivery:
        attempt_header = (message.headers or {}).get(ATTEMPT_HEADER, 1)
        attempt = attempt_header if isinstance(attempt_header, int) else 1
        try:
            envelope = Envelope.from_json(message.body)
        except MalformedMessage as exc:
            return Delivery(
                consumer, None, attempt, raw=message.body, error=str(exc), handle=message
            )
        return Delivery(consumer, envelope, attempt, raw=message.body, handle=message)

    @staticmethod
    def _message_of(delivery: Delivery) -> AbstractIncomingMessage:
        if not isinstance(delivery.handle, AbstractIncomingMessage):
            raise TypeError("not a RabbitMQ delivery")
        return delivery.handle

    async def ack(self, delivery: Delivery) -> None:
        """Acknowledge; on a channel that died meanwhile the broker redelivers it instead."""
        message = self._message_of(delivery)
        try:
            await message.ack()
        except _CLOSED_CHANNEL_ERRORS:
            log.warning("events.rabbitmq.ack_lost", consumer=delivery.consumer)

    async def ack_all(self, deliveries: Sequence[Delivery]) -> None:
        """One ack each: a basic.ack is a frame the broker does not answer."""
        for delivery in deliveries:
            await self.ack(delivery)

    async def retry(self, delivery: Delivery, *, delay_seconds: float, reason: str) -> None:
        """Park a copy in a delay queue with ``attempt + 1`` (confirmed), then ack the original."""
        message = self._message_of(delivery)
        if _from_a_dead_channel(message):
            # The broker redelivers it anyway: a copy now would be a duplicate.
            log.warning("events.rabbitmq.retry_lost", consumer=delivery.consumer)
            return
        channel, _ = self._publishing()
        delay_queue = await self._delay_queue(delivery.consumer, delay_bucket_ms(delay_seconds))
        headers = dict(message.headers or {}) | {
            ATTEMPT_HEADER: delivery.attempt + 1,
            REASON_HEADER: reason[:1000],
        }
        copy = aio_pika.Message(
            message.body,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            type=message.type,
            correlation_id=message.correlation_id,
            headers=headers,
        )
        await channel.default_exchange.publish(copy, delay_queue, mandatory=True)
        await self.ack(delivery)

    async def dead_letter(self, delivery: Delivery, *, reason: str) -> None:
        """Move it to the consumer's DLQ with ``reason`` in a header, then ack the original.

        (A plain reject would dead-letter it too, but without saying why.)
        """
        message = self._message_of(delivery)
        if _from_a_dead_channel(message):
            log.warning("events.rabbitmq.dead_letter_lost", consumer=delivery.consumer)
            return
        channel, _ = self._publishing()
        headers = dict(message.headers or {}) | {
            REASON_HEADER: reason[:1000],
            CONSUMER_HEADER: delivery.consumer,
        }
        copy = aio_pika.Message(
            message.body,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            type=message.type,
            headers=headers,
        )
        dlq = self.dead_letter_queue_name(delivery.consumer)
        await channel.default_exchange.publish(copy, dlq, mandatory=True)
        await self.ack(delivery)


def _from_a_dead_channel(message: AbstractIncomingMessage) -> bool:
    """Received on a channel that closed since: it cannot be acked, the broker resends it."""
    try:
        return message.channel.is_closed
    except ChannelInvalidStateError:
        return True
