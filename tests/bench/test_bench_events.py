"""The events benchmark's report on fixed figures, and its registration with the harness."""

from __future__ import annotations

from bench.__main__ import BENCHMARKS, parse_options
from bench.events import NAME, Figures, markdown_section


def _figures(p95_ms: float, per_second: float) -> list[Figures]:
    return [
        Figures("raw INSERT + SKIP LOCKED", 9000.0, 1.0, 2.0, 3.0, 1000),
        Figures("mosaic events (postgres)", per_second, 10.0, p95_ms, 120.0, 1000),
    ]


def test_the_events_benchmark_is_registered() -> None:
    names, _ = parse_options(["events", "--quick"])

    assert names == ["events"]
    assert NAME in BENCHMARKS


def test_the_section_lists_every_target_and_says_whether_the_targets_are_met() -> None:
    measured = "Measured 2026-12-06 on x86_64"
    met = markdown_section(_figures(p95_ms=40.0, per_second=100.0), measured=measured)
    missed = markdown_section(_figures(p95_ms=140.0, per_second=100.0), measured=measured)
    too_slow = markdown_section(_figures(p95_ms=40.0, per_second=10.0), measured=measured)

    assert met.startswith("## Events: throughput and latency\n\nMeasured 2026-12-06 on x86_64.")
    assert "| raw INSERT + SKIP LOCKED |" in met
    assert "| mosaic events (postgres) | 100 | 6000 |" in met
    assert met.rstrip().endswith("— met.")
    assert missed.rstrip().endswith("— NOT met.")
    assert too_slow.rstrip().endswith("— NOT met.")
