"""What a consumer is: the event types it receives and the handler that applies one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.events.bus import Envelope

# Subscribes a consumer to every event type (the audit trail).
ALL_EVENT_TYPES = "*"

# Runs inside a transaction bound to the event's tenant; must not commit nor roll back (other
# events may share the transaction, each in a savepoint of its own). Raising rolls the effect
# back and the delivery is retried (then dead-lettered).
Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]
# Applies several events of one tenant at once, in a transaction bound to that tenant, as the
# handler would one by one; must not commit nor roll back. Raising rolls the whole batch back,
# and the worker handles its events again one at a time with the handler.
BatchHandler = Callable[[AsyncSession, Sequence[Envelope]], Awaitable[None]]


@dataclass(frozen=True)
class Consumer:
    """A named subscriber; its name keys its queue, its dead letters and its idempotency."""

    event_types: frozenset[str]
    handler: Handler
    # Whether deliveries handed out together may share a transaction (a savepoint each). A
    # batch that fails to commit is handled again one event at a time, so a handler with an
    # effect outside the database (a mail) says False: its events are never handled twice
    # because a neighbour's commit failed.
    batched: bool = True
    # Applies a batch's events with fewer statements than the handler one by one (the audit
    # trail's multi-row INSERT); only for a batched consumer.
    batch_handler: BatchHandler | None = None

    def __post_init__(self) -> None:
        if self.batch_handler is not None and not self.batched:
            raise ValueError("a consumer that is not batched has no batch handler")

    def accepts(self, event_type: str) -> bool:
        return ALL_EVENT_TYPES in self.event_types or event_type in self.event_types
