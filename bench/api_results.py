"""What the ``api`` benchmark measured, and how its table and Markdown section read."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench import baseline
from bench.options import RunOptions
from bench.report import markdown_table
from bench.stats import Measurement, median_measurement

NAME = "api"


@dataclass(frozen=True)
class Target:
    """An HTTP target and the raw asyncpg workload that does its database work."""

    label: str
    description: str
    path: str
    headers: dict[str, str] | None
    baseline_label: str
    workload: baseline.Workload
    method: str = "GET"
    body: str | None = None
    # The same database work behind a bare FastAPI endpoint (bench.bare_app), if measured.
    bare_path: str | None = None
    bare_label: str | None = None


@dataclass
class Series:
    """A target's rounds: the HTTP measurement, the baseline's and the bare app's (if any),
    paired by round."""

    target: Target
    http: list[Measurement] = field(default_factory=list)
    baseline: list[Measurement] = field(default_factory=list)
    bare: list[Measurement] = field(default_factory=list)

    def rate_ratio(self, measured: Sequence[Measurement] | None = None) -> float:
        """Median over rounds of req/s ÷ baseline ops/s, each pair from one round (the HTTP
        target's unless ``measured`` says otherwise)."""
        pairs = zip(self.http if measured is None else measured, self.baseline, strict=True)
        return statistics.median(h.per_second / b.per_second for h, b in pairs)

    def p50_ratio(self, measured: Sequence[Measurement] | None = None) -> float:
        pairs = zip(self.http if measured is None else measured, self.baseline, strict=True)
        return statistics.median(h.p50_ms / b.p50_ms for h, b in pairs)


@dataclass(frozen=True)
class Results:
    """Everything the report needs from one run."""

    series: list[Series]
    ceiling: list[Measurement]
    machine: list[tuple[str, str]]
    notes: list[str]


RESULT_HEADERS = (
    "Target",
    "Req or ops/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "Errors",
    "Rate ÷ baseline",
    "p50 ÷ baseline",
    "CPU, % of one core",
    "CPU ms per request or op",
)


def _cpu(measurement: Measurement) -> str:
    shares = measurement.cpu_percent or {}
    return ", ".join(f"{role} {share:.0f}" for role, share in shares.items())


def _cpu_per_operation(measurement: Measurement) -> str:
    # CPU time per request barely moves when other work slows the machine down, so it
    # compares across noisy runs better than throughput does.
    shares = measurement.cpu_percent or {}
    rate = measurement.per_second
    return ", ".join(f"{role} {10 * share / rate:.2f}" for role, share in shares.items() if rate)


def _row(label: str, measurement: Measurement, rate: str, p50: str) -> list[str]:
    return [
        label,
        f"{measurement.per_second:,.0f}",
        f"{measurement.p50_ms:.2f}",
        f"{measurement.p95_ms:.2f}",
        f"{measurement.p99_ms:.2f}",
        str(measurement.errors),
        rate,
        p50,
        _cpu(measurement),
        _cpu_per_operation(measurement),
    ]


def result_rows(results: Results) -> tuple[tuple[str, ...], list[list[str]]]:
    """The results table: medians per target, each followed by its baseline."""
    rows: list[list[str]] = []
    for entry in results.series:
        rows.append(
            _row(
                f"Mosaic {entry.target.label}",
                median_measurement(entry.http),
                f"{entry.rate_ratio():.2f}x",
                f"{entry.p50_ratio():.2f}x",
            )
        )
        rows.append(
            _row(entry.target.baseline_label, median_measurement(entry.baseline), "1.00x", "1.00x")
        )
        if entry.bare:
            rows.append(
                _row(
                    entry.target.bare_label or f"bare FastAPI {entry.target.label}",
                    median_measurement(entry.bare),
                    f"{entry.rate_ratio(entry.bare):.2f}x",
                    f"{entry.p50_ratio(entry.bare):.2f}x",
                )
            )
    rows.append(_row("wrk against a trivial server", median_measurement(results.ceiling), "", ""))
    return RESULT_HEADERS, rows


def markdown_section(results: Results, options: RunOptions, pool_size: int) -> str:
    """The benchmark's section of docs/benchmarks.md."""
    command = (
        f"python -m bench {NAME} --quick"
        if options.quick
        else f"python -m bench {NAME} --rounds {options.rounds} "
        f"--duration {options.duration_seconds:g} --connections {options.connections}"
    )
    measured = f"Measured with `{command}`"
    if not options.quick and options == RunOptions(report_path=options.report_path):
        measured += " (what `make bench` runs)"
    headers, rows = result_rows(results)
    parts = [
        "## API: Mosaic over HTTP beside raw asyncpg",
        f"{measured}.",
    ]
    if options.quick:
        parts.append("**Quick smoke run: these figures only show that the harness works.**")
    parts += [
        "### Machine",
        markdown_table(("", ""), [[f"**{label}**", value] for label, value in results.machine]),
        "### Method",
        _method(results, options, pool_size),
        f"### Results (medians of {_rounds(options)})",
        markdown_table(headers, rows),
        "*Rate ÷ baseline* is Mosaic's requests/s over asyncpg's operations/s for the same "
        "database work, and *p50 ÷ baseline* the ratio of median latencies; each is the median "
        "of the per-round ratios, so both sides of a ratio saw the same background load. "
        "*CPU ms per request or op* divides each process's CPU time by the work done: it "
        "moves least when other work slows the machine, so it is the figure to compare across "
        "runs.",
        "### Is the load generator the limit?",
        _load_generator_finding(results),
        "### Every round",
        _rounds_table(results),
        "### Noise",
        _noise(results, options),
    ]
    return "\n\n".join(parts)


def _method(results: Results, options: RunOptions, pool_size: int) -> str:
    lines = [
        f"- **Load**: wrk, {options.connections} keep-alive connections over "
        f"{options.load_threads} threads, {options.duration_seconds:g} s per run; "
        "p50/p95/p99 come from wrk's own latency histogram (a Lua `done()` hook prints them).",
        "- **Server**: `mosaic serve` as a subprocess — one uvicorn process (uvloop, httptools), "
        "`MOSAIC_ENV=development`, `MOSAIC_LOG_LEVEL=WARNING` (no log line per request), "
        "embedded PostgreSQL in a fresh data directory, the default pool "
        f"(up to {pool_size} connections). A tenant and an API key are made with the CLI.",
        *(
            f"- **Target** `{entry.target.label}`: {entry.target.description}"
            for entry in results.series
        ),
        "- **Baseline**, in the same run against the same PostgreSQL: raw asyncpg as the "
        f"application's role (so row-level security applies), a pool of {pool_size}, "
        f"{options.connections} concurrent tasks each timing one call, pool wait included: "
        "`SELECT 1` in a transaction for the readiness probe, and the endpoint's three "
        "statements in one transaction for the API key read. It runs in this one Python "
        "process (uvloop) on the same cores while the server idles.",
        f"- **Rounds**: {options.warmup_seconds:g} s warm-up per target, then "
        f"{_rounds(options)} with the targets interleaved; figures are medians over the "
        "rounds. CPU is user + system time from `/proc` during each run, in percent of one "
        f"core ({100 * len(os.sched_getaffinity(0))} would be every usable core busy).",
    ]
    if results.notes:
        lines += [f"- **Note**: {note}" for note in results.notes]
    return "\n".join(lines)


def _rounds(options: RunOptions) -> str:
    return f"{options.rounds} round{'s' if options.rounds != 1 else ''}"


def _load_generator_finding(results: Results) -> str:
    ceiling = median_measurement(results.ceiling)
    fastest = max(results.series, key=lambda entry: median_measurement(entry.http).per_second)
    fastest_http = median_measurement(fastest.http)
    headroom = ceiling.per_second / fastest_http.per_second
    cpu = fastest_http.cpu_percent or {}
    finding = (
        f"wrk drove a trivial single-process Python server (`bench/trivial_server.py`, one "
        f"fixed answer) at {ceiling.per_second:,.0f} requests/s, {headroom:.1f}x Mosaic's "
        f"fastest target (`{fastest.target.label}`, {fastest_http.per_second:,.0f}/s). During "
        f"that Mosaic run wrk used {cpu.get('load generator', 0):.0f}% of a core while the "
        f"server process used {cpu.get('server', 0):.0f}% — "
    )
    if headroom >= 2:
        return finding + "the server, not the load generator, sets the pace."
    return finding + (
        "**the headroom is small: the load generator may be limiting these figures.**"
    )


def _rounds_table(results: Results) -> str:
    rows: list[list[str]] = []
    for entry in results.series:
        for label, measurements in (
            (f"Mosaic {entry.target.label}", entry.http),
            (entry.target.baseline_label, entry.baseline),
        ):
            for number, measurement in enumerate(measurements, start=1):
                rows.append(
                    [
                        str(number),
                        label,
                        f"{measurement.per_second:,.0f}",
                        f"{measurement.p50_ms:.2f}",
                        f"{measurement.p95_ms:.2f}",
                    ]
                )
    for number, measurement in enumerate(results.ceiling, start=1):
        rows.append(
            [
                str(number),
                "wrk against a trivial server",
                f"{measurement.per_second:,.0f}",
                f"{measurement.p50_ms:.2f}",
                f"{measurement.p95_ms:.2f}",
            ]
        )
    return markdown_table(("Round", "Target", "Req or ops/s", "p50 ms", "p95 ms"), rows)


def _spread(measurements: Sequence[Measurement]) -> str:
    rates = [measurement.per_second for measurement in measurements]
    middle = statistics.median(rates)
    return f"{100 * (min(rates) / middle - 1):+.0f}% / {100 * (max(rates) / middle - 1):+.0f}%"


def _noise(results: Results, options: RunOptions) -> str:
    spreads = [
        f"`{entry.target.label}` {_spread(entry.http)} (baseline {_spread(entry.baseline)})"
        for entry in results.series
    ]
    server_shares = [
        (measurement.cpu_percent or {}).get("server", 0.0)
        for entry in results.series
        for measurement in entry.http
    ]
    return (
        "The machine is small (see *Cores*) and shared: other work ran beside this benchmark "
        "(see the load averages), and the load generator, the server, PostgreSQL and the "
        "baseline client all compete for the same cores. Rounds are interleaved and reported "
        "as medians, and ratios are taken within a round, to damp that. Slowest / fastest "
        "round against the median rate: "
        + "; ".join(spreads)
        + ". The single-process server got between "
        f"{min(server_shares, default=0):.0f}% and {max(server_shares, default=0):.0f}% of a "
        f"core while {options.connections} connections kept requests waiting on it; what it "
        "did not get went to other processes. Absolute rates are what this machine gave at "
        "the time; *CPU ms per request* is the figure to compare between runs."
    )
