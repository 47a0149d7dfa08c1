"""What one statement costs the application's own process, through each layer it can go: raw
asyncpg, SQLAlchemy Core on a connection, and the ORM session the repositories use.

Every request's statements go through SQLAlchemy (STYLE.md: repositories on a typed base), so
this per-statement difference is part of each endpoint's CPU, once per round trip; the write of
a story makes seven. Two statements, each timed inside one open transaction on the embedded
PostgreSQL, on uvloop as the HTTP workers run: binding the tenant (``set_config``, no table, as
``core.database.bind_tenant``), and loading one row by primary key (``tenants``: into an ORM
object for the session, a record for asyncpg). CPU is this process's (``time.process_time``);
PostgreSQL's own is not in it.

``python -m bench statements`` runs it; ``run(options)`` has the harness's shape.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import uvloop
from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from bench.cluster import migrated_cluster
from bench.machine import describe, load_average
from bench.options import RunOptions
from bench.report import markdown_table, text_table
from mosaic.core.database import (
    TENANT_SETTING,
    create_engine,
    create_sessionmaker,
)
from mosaic.core.logging import configure_logging
from mosaic.core.settings import DatabaseSettings, ObservabilitySettings
from mosaic.models import Tenant

NAME = "statements"
CALLS = 3000
WARM_UP_CALLS = 300

_BIND = select(func.set_config(TENANT_SETTING, bindparam("tenant_id"), True))
_BIND_SQL = "SELECT set_config($1, $2, true)"
_TENANT_SQL = "SELECT id, slug, name, created_at, updated_at FROM tenants WHERE id = $1"

Call = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Figure:
    """One layer running one statement: CPU and wall time per call, in microseconds."""

    statement: str
    layer: str
    cpu_us: float
    wall_us: float


def run(options: RunOptions) -> str:
    """Measure, print, and return the Markdown section."""
    configure_logging(ObservabilitySettings(log_level="WARNING", log_json=False))
    began = load_average()
    with (
        tempfile.TemporaryDirectory(prefix="mosaic-bench-statements-") as directory,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as loop,
    ):
        figures, version = loop.run(_all(options, Path(directory)))
    machine = describe(postgres_version=version, load_generator="none", load_average_began=began)
    machine.append(("Load average as measuring ended", load_average()))
    headers, rows = _table(figures)
    print(text_table(headers, rows))
    return _markdown(headers, rows, machine, options)


async def _all(options: RunOptions, data_dir: Path) -> tuple[list[Figure], str]:
    database = DatabaseSettings(data_dir=data_dir, pool_size=2)
    async with migrated_cluster(data_dir, database) as location:
        engine = create_engine(location.owner_url, database, application_name="bench")
        tenant_id = uuid4()
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                session.add(Tenant(id=tenant_id, slug=f"bench-{tenant_id.hex[:8]}", name="Bench"))
            calls = 300 if options.quick else CALLS
            rounds = [await _round(engine, tenant_id, calls) for _ in range(max(1, options.rounds))]
            async with engine.connect() as connection:
                version = str(
                    await connection.scalar(select(func.current_setting("server_version")))
                )
        finally:
            await engine.dispose()
        return _medians(rounds), version


async def _round(engine: AsyncEngine, tenant_id: UUID, calls: int) -> list[Figure]:
    """Every (statement, layer) pair once, each in the same open transaction."""
    figures: list[Figure] = []
    tenant = str(tenant_id)
    async with create_sessionmaker(engine)() as session, session.begin():
        connection: AsyncConnection = await session.connection()
        raw = (await connection.get_raw_connection()).driver_connection
        assert isinstance(raw, asyncpg.Connection)
        layers: list[tuple[str, str, Call]] = [
            ("bind the tenant", "asyncpg", lambda: raw.fetchval(_BIND_SQL, TENANT_SETTING, tenant)),
            (
                "bind the tenant",
                "SQLAlchemy Core, connection",
                lambda: connection.execute(_BIND, {"tenant_id": tenant}),
            ),
            (
                "bind the tenant",
                "SQLAlchemy ORM session",
                lambda: session.execute(_BIND, {"tenant_id": tenant}),
            ),
            ("one row by key", "asyncpg", lambda: raw.fetchrow(_TENANT_SQL, tenant_id)),
            (
                "one row by key",
                "SQLAlchemy ORM session",
                lambda: _load_tenant(session, tenant_id),
            ),
        ]
        for statement, layer, call in layers:
            figures.append(await _time(statement, layer, call, calls))
    return figures


async def _load_tenant(session: AsyncSession, tenant_id: UUID) -> Tenant:
    loaded = (await session.execute(select(Tenant).where(Tenant.id == tenant_id))).scalar_one()
    session.expunge(loaded)  # as a request's session starts empty: a load, not an identity hit
    return loaded


async def _time(statement: str, layer: str, call: Call, calls: int) -> Figure:
    for _ in range(WARM_UP_CALLS):
        await call()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        await call()
    return Figure(
        statement=statement,
        layer=layer,
        cpu_us=(time.process_time() - cpu) * 1e6 / calls,
        wall_us=(time.perf_counter() - wall) * 1e6 / calls,
    )


def _medians(rounds: list[list[Figure]]) -> list[Figure]:
    return [
        Figure(
            statement=same[0].statement,
            layer=same[0].layer,
            cpu_us=statistics.median(figure.cpu_us for figure in same),
            wall_us=statistics.median(figure.wall_us for figure in same),
        )
        for same in zip(*rounds, strict=True)
    ]


def _table(figures: list[Figure]) -> tuple[list[str], list[list[str]]]:
    """Rows, with each layer's CPU as a multiple of raw asyncpg's for the same statement."""
    raw = {figure.statement: figure.cpu_us for figure in figures if figure.layer == "asyncpg"}
    headers = ["statement", "layer", "CPU µs per call", "wall µs per call", "CPU ÷ asyncpg"]
    rows = [
        [
            figure.statement,
            figure.layer,
            f"{figure.cpu_us:.0f}",
            f"{figure.wall_us:.0f}",
            f"{figure.cpu_us / raw[figure.statement]:.1f}x",
        ]
        for figure in figures
    ]
    return headers, rows


def _markdown(
    headers: list[str],
    rows: list[list[str]],
    machine: list[tuple[str, str]],
    options: RunOptions,
) -> str:
    return (
        "\n\n".join(
            [
                "## Statements: one round trip through each layer",
                f"Measured with `python -m bench {NAME} --rounds {options.rounds}`.",
                "### Machine",
                markdown_table(("", ""), [[f"**{label}**", value] for label, value in machine]),
                "### Method",
                f"Each statement {CALLS:,} times in a row (after {WARM_UP_CALLS} unmeasured), "
                "inside one open transaction on the embedded PostgreSQL, on uvloop as the HTTP "
                "workers run; medians over rounds. CPU is the benchmark process's "
                "(`time.process_time`), PostgreSQL's is not in it. The ORM row is expunged after "
                "each load, so every call builds the object, as a request's fresh session does.",
                "### Results",
                markdown_table(headers, rows),
            ]
        )
        + "\n"
    )
