"""The SNS/SQS bus: one SNS topic, an SQS queue per consumer subscribed with a filter policy.

Publishing puts ``type`` and ``tenant_id`` in SNS message attributes; each consumer's queue is
subscribed with raw message delivery (the body is the envelope itself) and a filter policy on
``type``, so a queue only receives what its consumer subscribed to. Each queue has a redrive
policy to its own dead-letter queue after ``max_receive_count`` receives (the worker's maximum
attempts), as a backstop should the worker die mid-way through dead-lettering.

Deliveries are long-polled; ``ApproximateReceiveCount`` is the attempt number, ``retry`` hides
the message for the delay (``ChangeMessageVisibility``), ``ack`` deletes it. Standard queues
deliver at least once and keep order only on a best-effort basis (see docs/event-backends.md).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

import aioboto3
import structlog
from botocore.exceptions import BotoCoreError, ClientError

from mosaic.core.database import Database
from mosaic.core.settings import Settings
from mosaic.events.bus import Delivery, Envelope, MalformedMessage
from mosaic.events.consumer import ALL_EVENT_TYPES

if TYPE_CHECKING:
    from types_aiobotocore_sns.client import SNSClient
    from types_aiobotocore_sns.type_defs import MessageAttributeValueTypeDef as SnsAttribute
    from types_aiobotocore_sqs.client import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageAttributeValueTypeDef as SqsAttribute
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

log = structlog.get_logger(__name__)

# SNS and SQS take at most ten entries per batch call.
BATCH_SIZE = 10
MAX_VISIBILITY_SECONDS = 43_200
_QUEUE_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass
class _Window:
    """How many of one consumer's deliveries are out and not yet settled (the prefetch)."""

    limit: int
    out: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def room(self) -> int:
        async with self.changed:
            await self.changed.wait_for(lambda: self.out < self.limit)
            return self.limit - self.out

    async def settle(self) -> None:
        async with self.changed:
            self.out -= 1
            self.changed.notify_all()


@dataclass
class _Receipt:
    """A delivery's handle: where it came from and the receipt that acks or delays it."""

    queue_url: str
    receipt_handle: str
    window: _Window
    settled: bool = False


class SnsSqsBus:
    """:class:`mosaic.events.bus.Bus` on Amazon SNS and SQS with aioboto3."""

    name = "sns-sqs"

    def __init__(
        self,
        *,
        topic_name: str,
        queue_prefix: str,
        region: str,
        endpoint_url: str | None = None,
        max_receive_count: int = 10,
        visibility_timeout_seconds: int = 60,
        wait_seconds: int = 20,
        session: aioboto3.Session | None = None,
    ) -> None:
        self._topic_name = topic_name
        self._queue_prefix = queue_prefix
        self._region = region
        self._endpoint_url = endpoint_url
        self._max_receive_count = max_receive_count
        self._visibility_timeout = visibility_timeout_seconds
        self._wait_seconds = wait_seconds
        # Credentials: the usual AWS chain, unless a session with its own is given.
        self._session = session or aioboto3.Session()
        self._stack: AsyncExitStack | None = None
        self._sns: SNSClient | None = None
        self._sqs: SQSClient | None = None
        self._topic_arn: str | None = None
        self._queue_urls: dict[str, str] = {}
        # Received and not yet settled, made visible again by close().
        self._in_flight: dict[str, _Receipt] = {}
        self._start_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, database: Database) -> Self:
        """The configured bus; ``database`` is unused (SQS keeps the messages)."""
        section = settings.sns_sqs
        return cls(
            topic_name=section.sns_sqs_topic_name,
            queue_prefix=section.sns_sqs_queue_prefix,
            region=section.sns_sqs_region,
            endpoint_url=section.sns_sqs_endpoint_url,
            max_receive_count=section.sns_sqs_max_receive_count,
            visibility_timeout_seconds=section.sns_sqs_visibility_timeout_seconds,
            wait_seconds=section.sns_sqs_wait_seconds,
        )

    # Names ---------------------------------------------------------------------------------

    def queue_name(self, consumer: str) -> str:
        """``<prefix><consumer>``, with what SQS refuses in a name replaced by ``-``."""
        return _QUEUE_NAME_UNSAFE.sub("-", f"{self._queue_prefix}{consumer}")[:76]

    def dead_letter_queue_name(self, consumer: str) -> str:
        return f"{self.queue_name(consumer)}-dlq"

    # Lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the SNS and SQS clients and create the topic (creating it again is a no-op)."""
        async with self._start_lock:
            if self._stack is not None:
                return
            stack = AsyncExitStack()
            options: dict[str, Any] = {"region_name": self._region}
            if self._endpoint_url is not None:
                options["endpoint_url"] = self._endpoint_url
            try:
                sns = await stack.enter_async_context(self._session.client("sns", **options))
                sqs = await stack.enter_async_context(self._session.client("sqs", **options))
                topic = await sns.create_topic(Name=self._topic_name)
            except BaseException:
                await stack.aclose()
                raise
            self._stack, self._sns, self._sqs = stack, sns, sqs
            self._topic_arn = topic["TopicArn"]

    async def close(self) -> None:
        """Make unsettled deliveries visible again at once, then close the clients."""
        stack, self._stack = self._stack, None
        if stack is None:
            return
        in_flight, self._in_flight = list(self._in_flight.values()), {}
        if self._sqs is not None:
            for receipt in in_flight:
                with suppress(ClientError, BotoCoreError):
                    await self._sqs.change_message_visibility(
                        QueueUrl=receipt.queue_url,
                        ReceiptHandle=receipt.receipt_handle,
                        VisibilityTimeout=0,
                    )
        self._sns = self._sqs = None
        self._topic_arn = None
        self._queue_urls.clear()
        await stack.aclose()

    def _clients(self) -> tuple[SNSClient, SQSClient, str]:
        if self._sns is None or self._sqs is None or self._topic_arn is None:
            raise RuntimeError("SnsSqsBus.start() was not awaited")
        return self._sns, self._sqs, self._topic_arn

    # Topology ------------------------------------------------------------------------------

    async def _ensure_queue(self, name: str) -> str:
        _, sqs, _ = self._clients()
        try:
            return (await sqs.get_queue_url(QueueName=name))["QueueUrl"]
        except ClientError as exc:
            if "NonExistentQueue" not in str(exc) and "QueueDoesNotExist" not in str(exc):
                raise
        return (await sqs.create_queue(QueueName=name))["QueueUrl"]

    async def _queue_arn(self, queue_url: str) -> str:
        _, sqs, _ = self._clients()
        attributes = await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        return attributes["Attributes"]["QueueArn"]

    async def queue_url(self, consumer: str) -> str:
        """The URL of ``consumer``'s queue (looked up once)."""
        url = self._queue_urls.get(consumer)
        if url is None:
            _, sqs, _ = self._clients()
            url = (await sqs.get_queue_url(QueueName=self.queue_name(consumer)))["QueueUrl"]
            self._queue_urls[consumer] = url
        return url

    async def dead_letter_queue_url(self, consumer: str) -> str:
        _, sqs, _ = self._clients()
        response = await sqs.get_queue_url(QueueName=self.dead_letter_queue_name(consumer))
        return response["QueueUrl"]

    async def subscribe(self, consumer: str, event_types: Collection[str]) -> None:
        """Create the queue and its DLQ, and subscribe the queue with a filter on ``type``.

        Calling it again updates the queue's attributes and the subscription's filter policy,
        so the consumer receives exactly ``event_types`` from then on (none: unsubscribed).
        """
        sns, sqs, topic_arn = self._clients()
        dlq_arn = await self._queue_arn(
            await self._ensure_queue(self.dead_letter_queue_name(consumer))
        )
        queue_url = await self._ensure_queue(self.queue_name(consumer))
        queue_arn = await self._queue_arn(queue_url)
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": self._max_receive_count}
        # Only the topic may send to the queue through SNS (AWS enforces it; moto does not).
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }
            ],
        }
        await sqs.set_queue_attributes(
            QueueUrl=queue_url,
            Attributes={
                "RedrivePolicy": json.dumps(redrive),
                "VisibilityTimeout": str(self._visibility_timeout),
                "Policy": json.dumps(policy),
            },
        )
        self._queue_urls[consumer] = queue_url
        existing = await self._subscription_arn(queue_arn)
        types = sorted(set(event_types))
        filter_policy = json.dumps({"type": _type_filter(types)})
        if existing is not None and not types:
            await sns.unsubscribe(SubscriptionArn=existing)
        elif existing is not None:
            await sns.set_subscription_attributes(
                SubscriptionArn=existing, AttributeName="FilterPolicy", AttributeValue=filter_policy
            )
        elif types:
            await sns.subscribe(
                TopicArn=topic_arn,
                Protocol="sqs",
                Endpoint=queue_arn,
                Attributes={"RawMessageDelivery": "true", "FilterPolicy": filter_policy},
                ReturnSubscriptionArn=True,
            )

    async def _subscription_arn(self, queue_arn: str) -> str | None:
        sns, _, topic_arn = self._clients()
        paginator = sns.get_paginator("list_subscriptions_by_topic")
        async for page in paginator.paginate(TopicArn=topic_arn):
            for subscription in page.get("Subscriptions", []):
                if subscription.get("Endpoint") == queue_arn:
                    return subscription.get("SubscriptionArn")
        return None

    # Publishing ----------------------------------------------------------------------------

    @staticmethod
    def _attributes(envelope: Envelope) -> dict[str, str]:
        """What filter policies and operators see without parsing the body."""
        attributes = {"type": envelope.type}
        if envelope.tenant_id is not None:
            attributes["tenant_id"] = envelope.tenant_id
        return attributes

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Publish to the topic in batches of ten, in order; raise if SNS refused any."""
        sns, _, topic_arn = self._clients()
        for start in range(0, len(envelopes), BATCH_SIZE):
            batch = envelopes[start : start + BATCH_SIZE]
            response = await sns.publish_batch(
                TopicArn=topic_arn,
                PublishBatchRequestEntries=[
                    {
                        "Id": str(index),
                        "Message": envelope.to_json().decode(),
                        "MessageAttributes": _sns_attributes(self._attributes(envelope)),
                    }
                    for index, envelope in enumerate(batch)
                ],
            )
            _raise_failed(response.get("Failed", []), "SNS PublishBatch")

    async def publish_to(self, consumer: str, envelopes: Sequence[Envelope]) -> None:
        """Send straight to ``consumer``'s queue (replays), bypassing the topic and its filter."""
        await self._send(await self.queue_url(consumer), envelopes)

    async def _send(self, queue_url: str, envelopes: Sequence[Envelope]) -> None:
        _, sqs, _ = self._clients()
        for start in range(0, len(envelopes), BATCH_SIZE):
            batch = envelopes[start : start + BATCH_SIZE]
            response = await sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {
                        "Id": str(index),
                        "MessageBody": envelope.to_json().decode(),
                        "MessageAttributes": _sqs_attributes(self._attributes(envelope)),
                    }
                    for index, envelope in enumerate(batch)
                ],
            )
            _raise_failed(response.get("Failed", []), "SQS SendMessageBatch")

    # Consuming -----------------------------------------------------------------------------

    async def consume(self, consumer: str, *, prefetch: int) -> AsyncIterator[Delivery]:
        """Long-poll the consumer's queue, never holding more than ``prefetch`` unsettled."""
        _, sqs, _ = self._clients()
        queue_url = await self.queue_url(consumer)
        window = _Window(limit=max(1, prefetch))
        pending: list[_Receipt] = []
        try:
            while True:
                room = await window.room()
                response = await sqs.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=min(BATCH_SIZE, room),
                    WaitTimeSeconds=self._wait_seconds,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                    MessageAttributeNames=["All"],
                )
                messages = response.get("Messages", [])
                pending = [self._receipt(queue_url, message, window) for message in messages]
                window.out += len(pending)
                for message in messages:
                    receipt = pending.pop(0)
                    yield self._delivery(consumer, message, receipt)
        finally:
            # Received but never handed out (the caller stopped): visible again at once.
            for receipt in pending:
                self._in_flight.pop(receipt.receipt_handle, None)
                with suppress(ClientError, BotoCoreError):
                    await sqs.change_message_visibility(
                        QueueUrl=queue_url,
                        ReceiptHandle=receipt.receipt_handle,
                        VisibilityTimeout=0,
                    )

    def _receipt(self, queue_url: str, message: MessageTypeDef, window: _Window) -> _Receipt:
        receipt = _Receipt(queue_url, message["ReceiptHandle"], window)
        self._in_flight[receipt.receipt_handle] = receipt
        return receipt

    @staticmethod
    def _delivery(consumer: str, message: MessageTypeDef, receipt: _Receipt) -> Delivery:
        attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        body = message.get("Body", "")
        raw = body.encode()
        try:
            envelope = Envelope.from_json(body)
        except MalformedMessage as exc:
            return Delivery(consumer, None, attempt, raw=raw, error=str(exc), handle=receipt)
        return Delivery(consumer, envelope, attempt, raw=raw, handle=receipt)

    async def _settle(self, delivery: Delivery) -> _Receipt:
        """Take the delivery out of the prefetch window (once, whatever the outcome)."""
        receipt = delivery.handle
        if not isinstance(receipt, _Receipt):
            raise TypeError("not an SQS delivery")
        if not receipt.settled:
            receipt.settled = True
            self._in_flight.pop(receipt.receipt_handle, None)
            await receipt.window.settle()
        return receipt

    async def ack(self, delivery: Delivery) -> None:
        """Delete the message: it is never received again."""
        receipt = await self._settle(delivery)
        _, sqs, _ = self._clients()
        await sqs.delete_message(QueueUrl=receipt.queue_url, ReceiptHandle=receipt.receipt_handle)

    async def ack_all(self, deliveries: Sequence[Delivery]) -> None:
        """One delete each (a failed one does not keep the others from being deleted)."""
        failures = await asyncio.gather(
            *(self.ack(delivery) for delivery in deliveries), return_exceptions=True
        )
        for failure in failures:
            if isinstance(failure, BaseException):
                raise failure

    async def retry(self, delivery: Delivery, *, delay_seconds: float, reason: str) -> None:
        """Hide the message for the delay (rounded up to whole seconds, at most 12 hours).

        Its next receive counts one more, so ``attempt`` goes up by one; ``reason`` is the
        worker's to keep (SQS cannot annotate a message in place).
        """
        receipt = await self._settle(delivery)
        _, sqs, _ = self._clients()
        await sqs.change_message_visibility(
            QueueUrl=receipt.queue_url,
            ReceiptHandle=receipt.receipt_handle,
            VisibilityTimeout=min(MAX_VISIBILITY_SECONDS, math.ceil(max(0.0, delay_seconds))),
        )

    async def dead_letter(self, delivery: Delivery, *, reason: str) -> None:
        """Copy the message into the consumer's DLQ with ``reason``, then delete it."""
        receipt = await self._settle(delivery)
        _, sqs, _ = self._clients()
        attributes = {"reason": reason[:1000] or "-", "consumer": delivery.consumer}
        if delivery.envelope is not None:
            attributes |= self._attributes(delivery.envelope)
        await sqs.send_message(
            QueueUrl=await self.dead_letter_queue_url(delivery.consumer),
            MessageBody=delivery.raw.decode(errors="replace") or "-",
            MessageAttributes=_sqs_attributes(attributes),
        )
        await sqs.delete_message(QueueUrl=receipt.queue_url, ReceiptHandle=receipt.receipt_handle)


def _type_filter(types: list[str]) -> list[Any]:
    """The filter policy's condition on ``type``: the types, or any type at all for a consumer
    of every type (SNS would otherwise look for a type literally named ``*``)."""
    if ALL_EVENT_TYPES in types:
        return [{"exists": True}]
    return list(types)


def _sns_attributes(values: dict[str, str]) -> dict[str, SnsAttribute]:
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


def _sqs_attributes(values: dict[str, str]) -> dict[str, SqsAttribute]:
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


def _raise_failed(failed: Sequence[Any], operation: str) -> None:
    if failed:
        details = ", ".join(f"{entry.get('Id')}: {entry.get('Message')}" for entry in failed)
        raise RuntimeError(f"{operation} refused {len(failed)} message(s): {details}")
