"""The event-drain benchmark's figures on fixed rounds, and its registration with the harness."""

from __future__ import annotations

from bench.__main__ import BENCHMARKS, parse_options
from bench.event_drain import NAME, Round, markdown_section
from bench.options import RunOptions


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

    machine = [("Date", "2026-12-06 14:00 UTC"), ("PostgreSQL", "18.3 (embedded)")]

    section = markdown_section(rounds, machine, RunOptions(rounds=3))

    assert section.startswith("## Events: the background process's CPU per story event")
    assert "`python -m bench event-drain --rounds 3`" in section
    assert "| **PostgreSQL** | 18.3 (embedded) |" in section
    assert "| 1 | 2000 | 500 | 1.50 | 300 |" in section
    assert "| median | 2000 | 400 | 1.50 | 400 |" in section
