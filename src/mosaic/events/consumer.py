"""What a consumer is: the event types it receives and the handler that applies one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.events.bus import Envelope

# Subscribes a consumer to every event type (the audit trail).
ALL_EVENT_TYPES = "*"

# Runs inside a transaction bound to the event's tenant; must not commit nor roll back (other
# events may share the transaction, each in a savepoint of its own). Raising rolls the effect
# back and the delivery is retried (then dead-lettered).
Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]


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

    def accepts(self, event_type: str) -> bool:
        return ALL_EVENT_TYPES in self.event_types or event_type in self.event_types
