"""The process benchmark's report on fixed figures, and its registration with the harness."""

from __future__ import annotations

from bench.__main__ import BENCHMARKS, parse_options
from bench.process import NAME, Collection, Figures, Start, markdown_section


def test_the_process_benchmark_is_registered() -> None:
    names, _ = parse_options(["process", "--quick"])

    assert names == ["process"]
    assert NAME in BENCHMARKS


def test_the_section_gives_medians_of_start_up_and_of_a_full_collection() -> None:
    figures = Figures(
        compiled=[Start(1.0, 0.9), Start(1.2, 1.0), Start(5.0, 4.0)],
        from_source=[Start(3.5, 3.2), Start(3.4, 3.1), Start(3.6, 3.3)],
        collections=[Collection(200_000, 100.0, 0.01), Collection(210_000, 110.0, 0.02)],
    )

    section = markdown_section(figures, measured="Measured 2026-12-06 on x86_64")

    assert section.startswith("## Process start-up and garbage collection\n\nMeasured 2026-12-06")
    assert "| `mosaic --help`, compiled bytecode: wall | 1.20 s |" in section
    assert "| `mosaic --help`, from source: CPU | 3.20 s |" in section
    assert "| objects the collector tracks once the app is built | 205,000 |" in section
    assert "| a full collection, before `gc.freeze()` | 105.0 ms |" in section
