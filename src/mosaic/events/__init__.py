"""Domain events: immutable past-tense facts, written to the outbox in the transaction of the
change they describe and delivered to consumers after commit (see docs/architecture.md)."""

from mosaic.events.envelope import DomainEvent
from mosaic.events.outbox import record

__all__ = ["DomainEvent", "record"]
