"""The statements benchmark: its table on fixed figures, its registration, and one quick run
against a real embedded PostgreSQL (the harness works; its figures mean nothing here)."""

from __future__ import annotations

from bench.__main__ import BENCHMARKS, parse_options
from bench.options import RunOptions
from bench.statements import NAME, Figure, _table, run


def test_the_statements_benchmark_is_registered() -> None:
    names, _ = parse_options(["statements", "--quick"])

    assert names == ["statements"]
    assert NAME in BENCHMARKS


def test_each_layer_is_compared_with_asyncpg_running_the_same_statement() -> None:
    figures = [
        Figure("bind the tenant", "asyncpg", cpu_us=30.0, wall_us=50.0),
        Figure("bind the tenant", "SQLAlchemy ORM session", cpu_us=135.0, wall_us=180.0),
        Figure("one row by key", "asyncpg", cpu_us=40.0, wall_us=60.0),
        Figure("one row by key", "SQLAlchemy ORM session", cpu_us=200.0, wall_us=260.0),
    ]

    headers, rows = _table(figures)

    assert headers[-1] == "CPU ÷ asyncpg"
    assert rows[1] == ["bind the tenant", "SQLAlchemy ORM session", "135", "180", "4.5x"]
    assert rows[3][-1] == "5.0x"


def test_a_quick_run_measures_every_layer_on_a_real_database() -> None:
    section = run(RunOptions.quick_smoke(report_path=None))

    assert section.startswith("## Statements: one round trip through each layer")
    for layer in ("asyncpg", "SQLAlchemy Core, connection", "SQLAlchemy ORM session"):
        assert f"| {layer} |" in section
    assert "| **PostgreSQL** |" in section
