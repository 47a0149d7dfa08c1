"""Every consumer of domain events, by name: the one table that routes events to handlers.

The name is durable (it keys the consumer's queue, its dead letters and its record of handled
events): renaming a consumer starts it afresh.
"""

from __future__ import annotations

from mosaic.events.audit_trail import append_to_audit_log
from mosaic.events.consumer import ALL_EVENT_TYPES, Consumer

CONSUMERS: dict[str, Consumer] = {
    "audit": Consumer(event_types=frozenset({ALL_EVENT_TYPES}), handler=append_to_audit_log),
}
