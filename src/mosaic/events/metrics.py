"""Prometheus metrics of the consumers: lag (waiting messages, oldest age), outcomes, delay."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Commit-to-handler delays: the target is well under 100 ms, retries take minutes.
_DELAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


@dataclass(frozen=True)
class EventMetrics:
    """The worker's metrics, in the process's registry (the API's when run by ``serve``)."""

    waiting: Gauge
    oldest_age: Gauge
    handled: Counter
    delay: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> EventMetrics:
        return cls(
            waiting=Gauge(
                "mosaic_events_waiting",
                "Deliveries waiting in a consumer's queue (its lag in messages).",
                ("consumer",),
                registry=registry,
                # Beside other processes: the queue's lag as the processes measuring it saw it.
                multiprocess_mode="livemax",
            ),
            oldest_age=Gauge(
                "mosaic_events_oldest_age_seconds",
                "Age of the oldest delivery waiting in a consumer's queue (its lag in time).",
                ("consumer",),
                registry=registry,
                multiprocess_mode="livemax",
            ),
            handled=Counter(
                "mosaic_events_handled",
                "Deliveries settled by a consumer, by outcome "
                "(handled, duplicate, retried, dead_lettered).",
                ("consumer", "outcome"),
                registry=registry,
            ),
            delay=Histogram(
                "mosaic_events_delivery_delay_seconds",
                "From the event's commit (occurred_at) to its handler's commit.",
                ("consumer",),
                buckets=_DELAY_BUCKETS,
                registry=registry,
            ),
        )
