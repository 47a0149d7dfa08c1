"""The event-drain benchmark's figures on fixed rounds, and its registration with the harness."""

from __future__ import annotations

from bench.__main__ import BENCHMARKS, parse_options
from bench.event_drain import NAME, Round, markdown_section


def test_the_event_drain_benchmark_is_registered() -> None:
    names, _ = parse_options(["event-drain", "--quick"])

    assert names == ["event-drain"]
    assert NAME in BENCHMARKS


def test_the_section_gives_each_round_and_their_medians_per_event() -> None:
    rounds = [
        Round(events=2000, seconds=4.0, cpu_seconds=3.0, record_cpu_seconds=0.6),
        Round(events=2000, seconds=5.0, cpu_seconds=2.0, record_cpu_seconds=0.8),
        Round(events=2000, seconds=8.0, cpu_seconds=4.0, record_cpu_seconds=1.0),
    ]

    section = markdown_section(rounds)

    assert "| 1 | 2000 | 500 | 1.50 | 300 |" in section
    assert "| median | 2000 | 400 | 1.50 | 400 |" in section
