"""The message bus port: what the relay publishes to and the worker consumes from.

One contract, three backends chosen by ``MOSAIC_EVENTS_BUS`` (``postgres``, ``rabbitmq``,
``sns-sqs``). Delivery is at least once; consumers are idempotent by (consumer, event id).
The worker keeps every dead letter in PostgreSQL (whatever the backend), so listing,
inspecting, replaying and discarding them is one thing; a backend's :meth:`Bus.dead_letter`
only takes the message off the live queue (a broker moves it to its dead-letter queue too,
for operators who watch the broker).

Every backend class also offers ``from_settings(settings, database) -> Self``, which the
factory uses to build the configured one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Envelope:
    """A published domain event (seed 000 §6.1), as it travels on every bus."""

    id: str
    type: str
    version: int
    occurred_at: datetime
    tenant_id: str | None
    actor_id: str | None
    resource_kind: str
    resource_id: str
    correlation_id: str | None
    traceparent: str | None
    payload: dict[str, Any]
    # The outbox position: the order of events, and so of one aggregate's events.
    position: int

    def to_json(self) -> bytes:
        # The fields as they are: asdict would deep-copy the payload only for json to read it.
        body = vars(self) | {"occurred_at": self.occurred_at.isoformat()}
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Envelope:
        """Parse a message body; raises :class:`MalformedMessage` for anything else."""
        try:
            body = json.loads(raw)
            return cls(**(body | {"occurred_at": datetime.fromisoformat(body["occurred_at"])}))
        except (ValueError, TypeError, KeyError) as exc:
            raise MalformedMessage(str(exc)) from exc


class MalformedMessage(ValueError):
    """A message that is not an envelope: it goes to dead letters with this reason."""


@dataclass(frozen=True)
class Delivery:
    """One message handed to one consumer, for the ``attempt``-th time (1-based).

    ``envelope`` is None when the body could not be parsed: ``error`` says why, ``raw`` keeps
    the body, and the worker dead-letters it at once.
    """

    consumer: str
    envelope: Envelope | None
    attempt: int
    raw: bytes = b""
    error: str | None = None
    # The backend's handle for ack/retry/dead-letter (a row id, a delivery tag, a receipt).
    handle: Any = None


class Bus(Protocol):
    """A durable publish/subscribe channel with per-consumer queues."""

    name: str

    async def start(self) -> None:
        """Connect and declare what the backend needs (idempotent)."""

    async def close(self) -> None:
        """Release connections; in-flight deliveries not acknowledged are redelivered."""

    async def subscribe(self, consumer: str, event_types: Collection[str]) -> None:
        """Declare ``consumer``'s durable queue, receiving ``event_types`` from now on."""

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Deliver to every subscribed consumer; durable (confirmed) once this returns."""

    async def publish_to(self, consumer: str, envelopes: Sequence[Envelope]) -> None:
        """Deliver to one consumer only: replays and dead-letter redrives."""

    def consume(self, consumer: str, *, prefetch: int) -> AsyncIterator[Delivery]:
        """The consumer's deliveries, at most ``prefetch`` unacknowledged at a time."""
        ...

    async def ack(self, delivery: Delivery) -> None:
        """Handled (or already handled): never deliver it again."""

    async def ack_all(self, deliveries: Sequence[Delivery]) -> None:
        """:meth:`ack` each of ``deliveries`` (one consumer's), in as few calls as it can.

        Raises if any could not be acknowledged: those are delivered again.
        """

    async def retry(self, delivery: Delivery, *, delay_seconds: float, reason: str) -> None:
        """Deliver again after ``delay_seconds``, with ``attempt`` one higher."""

    async def dead_letter(self, delivery: Delivery, *, reason: str) -> None:
        """Give up: move it to the consumer's dead letters with ``reason``."""
