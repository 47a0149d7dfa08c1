"""The benchmark harness's pure parts on fixed input: wrk's output, statistics, the report."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.api_results import Results, Series, Target, markdown_section
from bench.baseline import readiness_ping
from bench.options import RunOptions
from bench.report import end_marker, markdown_table, start_marker, write_section
from bench.stats import Measurement, median_measurement, percentile
from bench.wrk import RESULT_MARKER, parse_wrk_output

WRK_OUTPUT = f"""Running 10s test @ http://127.0.0.1:8000/health/ready
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    40.12ms   10.01ms 120.00ms   70.00%
  12000 requests in 10.00s, 2.10MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   1200.00
Transfer/sec:    215.00KB
{RESULT_MARKER}{{"requests":12000,"duration_us":10000000,"connect":0,"read":1,"write":0,\
"status":3,"timeout":0,"p50_us":38500,"p95_us":61000,"p99_us":98250}}
"""


def test_wrk_output_is_read_from_the_done_hook_line() -> None:
    measurement = parse_wrk_output(WRK_OUTPUT)

    assert measurement.operations == 12000
    assert measurement.per_second == pytest.approx(1200.0)
    assert (measurement.p50_ms, measurement.p95_ms, measurement.p99_ms) == (38.5, 61.0, 98.25)
    assert measurement.errors == 4  # one read error and three non-2xx answers


def test_wrk_output_without_the_hook_line_is_refused() -> None:
    with pytest.raises(ValueError, match="BENCH_WRK_JSON"):
        parse_wrk_output("Requests/sec: 1200.00\n")


def test_percentile_is_nearest_rank() -> None:
    values = [float(value) for value in range(1, 101)]

    assert (percentile(values, 0.50), percentile(values, 0.95), percentile(values, 1.0)) == (
        50.0,
        95.0,
        100.0,
    )


def test_median_measurement_takes_each_figure_across_rounds() -> None:
    def round_(rate: float, p50: float, errors: int) -> Measurement:
        return Measurement(
            operations=int(rate),
            per_second=rate,
            p50_ms=p50,
            p95_ms=p50 * 2,
            p99_ms=p50 * 3,
            errors=errors,
            cpu_percent={"server": rate / 10},
        )

    median = median_measurement([round_(900, 5, 0), round_(1000, 9, 1), round_(1100, 4, 0)])

    assert (median.per_second, median.p50_ms, median.errors) == (1000, 5, 1)
    assert median.cpu_percent == {"server": 100}


def test_writing_a_section_leaves_the_others_intact(tmp_path: Path) -> None:
    report = tmp_path / "docs" / "benchmarks.md"
    write_section(report, "api", "## API\n\nfirst run")
    write_section(report, "events", "## Events\n\nonly run")
    write_section(report, "api", "## API\n\nsecond run")

    text = report.read_text()
    assert text.startswith("# Benchmarks")
    assert "first run" not in text
    assert text.count(start_marker("api")) == text.count(end_marker("api")) == 1
    assert text.index("second run") < text.index(start_marker("events"))
    assert f"{start_marker('events')}\n## Events\n\nonly run\n{end_marker('events')}" in text


def test_markdown_tables_align_numbers_right() -> None:
    table = markdown_table(("Target", "Req/s"), [["GET /", "1,200"], ["GET /x", "800"]])

    assert table.splitlines()[1] == "| --- | ---: |"


def test_the_report_flags_a_load_generator_without_headroom() -> None:
    def measured(rate: float) -> Measurement:
        return Measurement(
            operations=int(rate * 10),
            per_second=rate,
            p50_ms=10.0,
            p95_ms=20.0,
            p99_ms=30.0,
            cpu_percent={"load generator": 90.0, "server": 60.0},
        )

    target = Target(
        label="GET /health/ready",
        description="the readiness probe",
        path="/health/ready",
        headers=None,
        baseline_label="asyncpg: SELECT 1",
        workload=readiness_ping,
    )
    series = Series(target, http=[measured(1000.0)], baseline=[measured(4000.0)])
    results = Results(series=[series], ceiling=[measured(1500.0)], machine=[], notes=[])

    section = markdown_section(results, RunOptions(rounds=1), pool_size=20)

    assert "| Mosaic GET /health/ready | 1,000 | 10.00 | 20.00 | 30.00 | 0 | 0.25x | 1.00x |" in (
        section
    )
    assert "the load generator may be limiting these figures" in section
