"""Percentiles, medians and the shape of one measurement."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    """One timed run against one target: throughput, latency and where the CPU went."""

    operations: int
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int = 0
    # CPU used during the run, in percent of one core, by process role.
    cpu_percent: dict[str, float] | None = None


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (wrk reports the same kind)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def median_measurement(rounds: Sequence[Measurement]) -> Measurement:
    """Each figure's median over the rounds (figures taken independently, as usual)."""
    if not rounds:
        raise ValueError("no rounds to summarise")
    roles = {role for measurement in rounds for role in (measurement.cpu_percent or {})}
    cpu = {
        role: statistics.median((m.cpu_percent or {}).get(role, 0.0) for m in rounds)
        for role in sorted(roles)
    }
    return Measurement(
        operations=round(statistics.median(m.operations for m in rounds)),
        per_second=statistics.median(m.per_second for m in rounds),
        p50_ms=statistics.median(m.p50_ms for m in rounds),
        p95_ms=statistics.median(m.p95_ms for m in rounds),
        p99_ms=statistics.median(m.p99_ms for m in rounds),
        errors=sum(m.errors for m in rounds),
        cpu_percent=cpu or None,
    )
