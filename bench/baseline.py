"""The baseline: raw asyncpg doing a target's database work, with the app's pool size."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter
from typing import TypeAlias
from uuid import UUID

import asyncpg
import uvloop
from asyncpg.pool import PoolConnectionProxy

from bench.cpu import cpu_usage, self_seconds, tree_seconds
from bench.server import ApiKey, Postmaster
from bench.stats import Measurement, percentile

# Subscripted only for the type checker: asyncpg's runtime classes are not generic.
PooledConnection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"
# A workload may return what it read or wrote (the bare app answers with it).
Workload: TypeAlias = Callable[[PooledConnection], Awaitable[object]]

# The statements GET /api/v1/api-keys/{id} sends: authenticate through the security-definer
# function, bind the tenant for row-level security, read the row (all mapped columns).
FIND_KEY = "SELECT * FROM mosaic_find_api_key($1)"
BIND_TENANT = "SELECT set_config('mosaic.tenant_id', $1, true)"
READ_KEY = (
    "SELECT id, tenant_id, name, prefix, secret_hash, scopes, expires_at, last_used_at, "
    "revoked_at, created_at, updated_at FROM api_keys WHERE id = $1"
)


@dataclass(frozen=True)
class BaselineTarget:
    """Where the baseline connects: the server's PostgreSQL, as the application's role."""

    postmaster: Postmaster
    # The app's role, not the superuser: a superuser bypasses row-level security, which
    # would make the baseline skip work the app cannot.
    user: str
    database: str
    pool_size: int
    statement_timeout_ms: int


async def readiness_ping(connection: PooledConnection) -> None:
    """What a readiness probe asks of the database: a round trip in a transaction."""
    async with connection.transaction():
        await connection.fetchval("SELECT 1")


def api_key_read(key: ApiKey) -> Workload:
    """The endpoint's three statements in one transaction, as raw asyncpg calls."""
    key_id = UUID(key.id)

    async def run(connection: PooledConnection) -> None:
        async with connection.transaction():
            found = await connection.fetchrow(FIND_KEY, key.prefix)
            if found is None:
                raise LookupError(f"mosaic_find_api_key found no key {key.prefix}")
            await connection.fetchval(BIND_TENANT, str(found["tenant_id"]))
            if await connection.fetchrow(READ_KEY, key_id) is None:
                raise LookupError("row-level security hid the key from its own tenant")

    return run


def measure(
    target: BaselineTarget, workload: Workload, *, concurrency: int, duration_seconds: float
) -> Measurement:
    """Run ``workload`` from ``concurrency`` tasks for ``duration_seconds``; time each call."""
    pid = target.postmaster.pid
    meters = {"baseline client": self_seconds, "postgres": lambda: tree_seconds(pid)}
    with cpu_usage(meters) as cpu:
        # uvloop, as uvicorn uses, so the event loop is not the difference being measured.
        operations, elapsed, latencies = uvloop.run(
            _drive(target, workload, concurrency=concurrency, duration_seconds=duration_seconds)
        )
    latencies.sort()
    return Measurement(
        operations=operations,
        per_second=operations / elapsed,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p95_ms=percentile(latencies, 0.95) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        cpu_percent=cpu,
    )


def server_version(target: BaselineTarget) -> str:
    """PostgreSQL's version string, e.g. ``16.2``."""

    async def ask() -> str:
        connection = await _connect(target)
        try:
            version: str = await connection.fetchval("SHOW server_version")
            return version
        finally:
            await connection.close()

    return uvloop.run(ask())


async def _connect(target: BaselineTarget) -> asyncpg.Connection[asyncpg.Record]:
    return await asyncpg.connect(
        host=target.postmaster.socket_dir,
        user=target.user,
        database=target.database,
        server_settings={"application_name": "mosaic-bench-baseline"},
    )


async def _drive(
    target: BaselineTarget, workload: Workload, *, concurrency: int, duration_seconds: float
) -> tuple[int, float, list[float]]:
    server_settings = {"application_name": "mosaic-bench-baseline"}
    if target.statement_timeout_ms:
        server_settings["statement_timeout"] = str(target.statement_timeout_ms)
    pool = await asyncpg.create_pool(
        host=target.postmaster.socket_dir,
        user=target.user,
        database=target.database,
        min_size=target.pool_size,
        max_size=target.pool_size,
        server_settings=server_settings,
    )
    latencies: list[float] = []
    try:
        started = perf_counter()
        deadline = started + duration_seconds

        async def worker() -> None:
            while perf_counter() < deadline:
                began = perf_counter()
                # Waiting for a pooled connection is part of the latency, as in the app.
                async with pool.acquire() as connection:
                    await workload(connection)
                latencies.append(perf_counter() - began)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = perf_counter() - started
    finally:
        await pool.close()
    return len(latencies), elapsed, latencies
