"""The stories benchmark's pure parts: write targets in wrk, and the verdict against SC-001."""

from __future__ import annotations

from bench.api_results import Results, Series, Target, result_rows
from bench.baseline import readiness_ping
from bench.stats import Measurement
from bench.stories import NAME, _verdict
from bench.wrk import LoadSpec, _request_script


def _measurement(rate: float, p95: float) -> Measurement:
    return Measurement(operations=100, per_second=rate, p50_ms=p95 / 2, p95_ms=p95, p99_ms=p95)


def test_a_write_target_sets_wrk_method_and_body() -> None:
    spec = LoadSpec(
        url="http://x/api/v1/stories",
        connections=1,
        threads=1,
        duration_seconds=1,
        method="POST",
        body='{"title": "A \\"quoted\\" lake"}',
    )

    script = _request_script(spec)

    assert 'wrk.method = "POST"' in script
    assert 'wrk.body = "{\\"title\\": \\"A \\\\\\"quoted\\\\\\" lake\\"}"' in script


def test_a_read_target_needs_no_request_script() -> None:
    assert (
        _request_script(LoadSpec(url="http://x/", connections=1, threads=1, duration_seconds=1))
        == ""
    )


def _target(**bare: str) -> Target:
    return Target(
        label="GET /api/v1/stories",
        description="",
        path="/",
        headers=None,
        baseline_label="asyncpg",
        workload=readiness_ping,
        **bare,
    )


def test_the_verdict_compares_with_the_floor_and_the_baseline() -> None:
    target = _target()
    fast = Series(target, http=[_measurement(600, 150)], baseline=[_measurement(1200, 20)])
    slow = Series(target, http=[_measurement(400, 150)], baseline=[_measurement(1600, 20)])

    verdict = _verdict(Results(series=[fast, slow], ceiling=[], machine=[], notes=[]))

    first, second = verdict.splitlines()
    assert NAME == "stories"
    assert "600 requests/s at p95 150 ms — **meets** the floor (1.20x the rate" in first
    assert "0.50x of it in Mosaic" in first
    assert "**below** the floor" in second
    assert "0.25x of it in Mosaic" in second


def test_the_bare_framework_is_reported_beside_the_baseline() -> None:
    series = Series(
        _target(bare_path="/stories", bare_label="bare FastAPI"),
        http=[_measurement(300, 300)],
        baseline=[_measurement(1200, 20)],
        bare=[_measurement(900, 80)],
    )
    results = Results(series=[series], ceiling=[_measurement(40000, 3)], machine=[], notes=[])

    _, rows = result_rows(results)
    verdict = _verdict(results)

    assert [row[0] for row in rows] == [
        "Mosaic GET /api/v1/stories",
        "asyncpg",
        "bare FastAPI",
        "wrk against a trivial server",
    ]
    assert rows[2][6] == "0.75x"  # the bare app's rate against the baseline's
    assert "the bare FastAPI endpoint did 900/s at p95 80 ms, Mosaic 0.33x of it" in verdict
