"""Benchmark ``api``: Mosaic over HTTP beside raw asyncpg doing the same database work."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from bench import baseline
from bench.api_results import NAME, Results, Series, Target, markdown_section, result_rows
from bench.cpu import process_seconds, server_seconds, tree_seconds
from bench.machine import describe, load_average
from bench.options import REPOSITORY_ROOT, RunOptions
from bench.report import text_table
from bench.server import BareApp, RunningServer, free_port, mosaic_server, stop, wait_for_port
from bench.stats import Measurement
from bench.wrk import LoadSpec, ensure_wrk, run_wrk, wrk_version
from mosaic.core.embedded_postgres import DATABASE_NAME
from mosaic.core.settings import DatabaseSettings

__all__ = ["NAME", "measure_targets", "run"]

READY_PATH = "/health/ready"
# Until the readiness probe exists, the cheapest route that still runs the whole middleware
# stack stands in for it (and the report says so).
READY_FALLBACK_PATH = "/openapi.json"


def run(options: RunOptions) -> str:
    """Measure, print the table, and return the Markdown section."""
    wrk = ensure_wrk()
    database = DatabaseSettings()
    # The app's pool can grow to pool_size + max_overflow connections; so may the baseline's.
    pool_size = database.pool_size + database.pool_max_overflow
    notes: list[str] = []
    with mosaic_server() as server:
        key = server.create_api_key()
        ready_path = READY_PATH
        if not server.answers(READY_PATH):
            ready_path = READY_FALLBACK_PATH
            notes.append(
                f"`{READY_PATH}` did not answer 200 on this build, so `{READY_FALLBACK_PATH}` "
                "(no database work) stood in for it; its ratio is still against the ping."
            )
        targets = [
            Target(
                label=f"GET {ready_path}",
                description=(
                    "the readiness probe: a database ping on a pooled connection."
                    if ready_path == READY_PATH
                    else f"a stand-in for `{READY_PATH}` (no database work)."
                ),
                path=ready_path,
                headers=None,
                baseline_label="asyncpg: SELECT 1 in a transaction",
                workload=baseline.readiness_ping,
            ),
            Target(
                label="GET /api/v1/api-keys/{id}",
                description=(
                    "with `X-API-Key`: finds the key through the `mosaic_find_api_key` "
                    "security-definer function, binds the tenant with `set_config`, reads one "
                    "row under row-level security; pydantic and the ETag middleware shape the "
                    "answer."
                ),
                path=f"/api/v1/api-keys/{key.id}",
                headers={"X-API-Key": key.key},
                baseline_label="asyncpg: find key, set_config, read row (1 transaction)",
                workload=baseline.api_key_read(key),
            ),
        ]
        for target in targets:
            if not server.answers(target.path, target.headers):
                raise RuntimeError(f"{target.label} does not answer 200; nothing to measure")
        connection = baseline.BaselineTarget(
            postmaster=server.postmaster,
            user=database.app_role,
            database=DATABASE_NAME,
            pool_size=pool_size,
            statement_timeout_ms=database.statement_timeout_ms,
        )
        machine = describe(
            postgres_version=baseline.server_version(connection),
            load_generator=f"{wrk_version(wrk)}, {options.load_threads} threads",
        )
        series, ceiling = measure_targets(wrk, server, connection, targets, options)
        machine.append(("Load average as measuring ended", load_average()))
    results = Results(series=series, ceiling=ceiling, machine=machine, notes=notes)
    print()
    print(text_table(*result_rows(results)))
    print()
    return markdown_section(results, options, pool_size)


def measure_targets(
    wrk: str,
    server: RunningServer,
    connection: baseline.BaselineTarget,
    targets: Sequence[Target],
    options: RunOptions,
    *,
    settle: Callable[[], None] | None = None,
    bare: BareApp | None = None,
) -> tuple[list[Series], list[Measurement]]:
    """Warm up, then measure every target and its baseline, rounds interleaved.

    ``settle`` runs before every measured run: it waits until work one run left behind (events
    still being delivered, say) is done, so that it is not billed to the next. With ``bare``,
    targets that name a ``bare_path`` are also measured against that app.
    """
    postmaster_pid = connection.postmaster.pid

    def meters_postgres() -> float:
        return tree_seconds(postmaster_pid)

    meters = {
        # Every process of the server: its HTTP workers and background process too.
        "server": lambda: server_seconds(server.pid, excluding=postmaster_pid),
        "postgres": meters_postgres,
    }
    bare_meters = {
        "bare app": lambda: tree_seconds(bare.pid) if bare is not None else 0.0,
        "postgres": meters_postgres,
    }

    def load(url: str, target: Target, seconds: float) -> LoadSpec:
        if settle is not None:
            settle()
        return LoadSpec(
            url=url,
            connections=options.connections,
            threads=options.load_threads,
            duration_seconds=seconds,
            headers=target.headers,
            method=target.method,
            body=target.body,
        )

    def http(target: Target, seconds: float) -> Measurement:
        return run_wrk(wrk, load(server.base_url + target.path, target, seconds), meters=meters)

    def bare_http(target: Target, seconds: float) -> Measurement | None:
        if bare is None or target.bare_path is None:
            return None
        spec = load(bare.base_url + target.bare_path, target, seconds)
        return run_wrk(wrk, spec, meters=bare_meters)

    def raw(target: Target, seconds: float) -> Measurement:
        if settle is not None:
            settle()
        return baseline.measure(
            connection, target.workload, concurrency=options.connections, duration_seconds=seconds
        )

    # Warm-up fills pools, statement caches and PostgreSQL's buffers before anything counts.
    for target in targets:
        http(target, options.warmup_seconds)
        raw(target, options.warmup_seconds)
        bare_http(target, options.warmup_seconds)

    series = [Series(target) for target in targets]
    ceiling: list[Measurement] = []
    with _trivial_server() as (trivial_pid, trivial_url):
        trivial = LoadSpec(
            url=trivial_url,
            connections=options.connections,
            threads=options.load_threads,
            duration_seconds=options.duration_seconds,
        )
        trivial_meters = {"trivial server": lambda: process_seconds(trivial_pid)}
        for number in range(1, options.rounds + 1):
            # Interleaved, so drifting background load hits every target alike.
            for entry in series:
                entry.http.append(http(entry.target, options.duration_seconds))
                _progress(number, options, entry.target.label, entry.http[-1])
                entry.baseline.append(raw(entry.target, options.duration_seconds))
                _progress(number, options, entry.target.baseline_label, entry.baseline[-1])
                if (measured := bare_http(entry.target, options.duration_seconds)) is not None:
                    entry.bare.append(measured)
                    _progress(number, options, entry.target.bare_label or "bare", measured)
            ceiling.append(run_wrk(wrk, trivial, meters=trivial_meters))
            _progress(number, options, "wrk against a trivial server", ceiling[-1])
    return series, ceiling


@contextmanager
def _trivial_server() -> Iterator[tuple[int, str]]:
    """The fixed-answer server in its own process; yields its pid and URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.trivial_server", "--port", str(port)], cwd=REPOSITORY_ROOT
    )
    try:
        wait_for_port(port, process, log=None)
        yield process.pid, f"http://127.0.0.1:{port}/"
    finally:
        stop(process, grace_seconds=5, stop_signal=signal.SIGTERM)


def _progress(number: int, options: RunOptions, label: str, measurement: Measurement) -> None:
    print(
        f"round {number}/{options.rounds}  {label:<58} {measurement.per_second:>9,.0f}/s  "
        f"p50 {measurement.p50_ms:6.2f} ms  p95 {measurement.p95_ms:6.2f} ms  "
        f"errors {measurement.errors}",
        flush=True,
    )
