"""Stories benchmarks: a page of 20 from a legacy of 10,000 stories, and story creation, each
under concurrent clients, next to the same SQL through raw asyncpg in the same run.

``python -m bench.stories`` measures, prints the figures and rewrites the ``stories`` section of
docs/benchmarks.md; ``python -m bench stories`` runs it through the harness. Everything runs in
process (ASGI, no sockets) on an embedded PostgreSQL of its own; figures are medians over
rounds. The raw asyncpg figures are the floor: the story queries alone, without HTTP,
authentication, the policy's role lookups, provenance or the revision and outbox rows' ORM.
"""

from __future__ import annotations

import asyncio
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from asgi_lifespan import LifespanManager

from bench.report import write_section
from bench.stats import Measurement, median_measurement, percentile
from mosaic.app import create_app
from mosaic.core.database import DatabaseLocation, create_engine, create_sessionmaker
from mosaic.core.embedded_postgres import EmbeddedPostgres
from mosaic.core.ids import new_id
from mosaic.core.logging import configure_logging
from mosaic.core.settings import (
    DatabaseSettings,
    Environment,
    ObservabilitySettings,
    RateLimitSettings,
    ServerSettings,
    Settings,
)
from mosaic.identity import service as identity
from mosaic.identity.schemas import ApiKeyCreate
from mosaic.migrations import runner
from mosaic.models import Legacy, LegacyMember, ScopeRole, TenantMembership, User

NAME = "stories"
REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
STORIES = 10_000
PAGE = 20
VISIBILITIES = ("public", "private", "personal")

# The list as the application filters it for an active member (public, private, own personal),
# written by hand: the floor the API's query is compared with.
RAW_LIST = """
SELECT * FROM stories
WHERE tenant_id = $1 AND legacy_id = $2 AND deleted_at IS NULL
  AND moderation_state = 'visible'
  AND (visibility = 'public'
       OR (visibility = 'private' AND legacy_id IN (
             SELECT legacy_id FROM legacy_members
             WHERE user_id = $3 AND state = 'active'))
       OR (visibility = 'personal' AND author_id = $3 AND legacy_id IN (
             SELECT legacy_id FROM legacy_members
             WHERE user_id = $3 AND state = 'active')))
ORDER BY id DESC LIMIT $4
"""
RAW_STORY = """
INSERT INTO stories (id, tenant_id, legacy_id, author_id, title, content, visibility, tags,
                     version, moderation_state, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, 'private', '{}', 1, 'visible', now(), now())
"""
RAW_REVISION = """
INSERT INTO story_revisions (id, tenant_id, story_id, version, title, content, visibility, tags,
                             created_at)
VALUES ($1, $2, $3, 1, $4, $5, 'private', '{}', now())
"""
RAW_EVENT = """
INSERT INTO outbox_events (id, type, version, occurred_at, tenant_id, actor_id, resource_kind,
                           resource_id, payload)
VALUES ($1, 'StoryCreated', 1, now(), $2, $3, 'story', $4, '{}'::jsonb)
"""
CONTENT = "She *always* said the lake was warmer in August.\n\n" * 10


@dataclass(frozen=True)
class Fixture:
    """The seeded tenant: its legacy, and a user (with an API key) per concurrent client."""

    tenant_id: UUID
    legacy_id: UUID
    users: list[UUID]
    keys: list[str]


@dataclass(frozen=True)
class StoryFigures:
    list_api: Measurement
    list_raw: Measurement
    create_api: Measurement
    create_raw: Measurement
    clients: int
    seconds: float
    rounds: int


Operation = Callable[[int], Awaitable[None]]


async def closed_loop(operation: Operation, *, clients: int, seconds: float) -> Measurement:
    """``clients`` workers each calling ``operation(client)`` back to back for ``seconds``:
    the completed calls per second and their latency percentiles."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(client: int) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await operation(client)
            except Exception:
                errors += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker(client) for client in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Measurement(
        operations=len(latencies),
        per_second=len(latencies) / elapsed,
        p50_ms=percentile(latencies, 0.50),
        p95_ms=percentile(latencies, 0.95),
        p99_ms=percentile(latencies, 0.99),
        errors=errors,
    )


async def _seed(location: DatabaseLocation, database: DatabaseSettings, clients: int) -> Fixture:
    engine = create_engine(location.owner_url, database, application_name="mosaic-bench")
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session, session.begin():
            tenant = await identity.create_tenant(session, slug="bench-stories", name="Bench")
            legacy = Legacy(id=new_id(), tenant_id=tenant.id, name="Ada", slug="ada")
            session.add(legacy)
            users, keys = [], []
            for number in range(clients):
                user = User(id=new_id(), email=f"bench-{number}@example.test", display_name="B")
                session.add(user)
                await session.flush()
                session.add(
                    TenantMembership(
                        tenant_id=tenant.id, user_id=user.id, role=ScopeRole.CONTRIBUTOR
                    )
                )
                session.add(
                    LegacyMember(
                        tenant_id=tenant.id,
                        legacy_id=legacy.id,
                        user_id=user.id,
                        role=ScopeRole.CONTRIBUTOR,
                    )
                )
                _, key = await identity.create_api_key(
                    session,
                    tenant_id=tenant.id,
                    data=ApiKeyCreate(name="bench", scopes=["stories:read", "stories:write"]),
                    granted_by=None,
                    created_by=user.id,
                )
                users.append(user.id)
                keys.append(key)
        fixture = Fixture(tenant_id=tenant.id, legacy_id=legacy.id, users=users, keys=keys)
    finally:
        await engine.dispose()
    connection = await asyncpg.connect(_dsn(location))
    try:
        now = datetime.now(UTC)
        await connection.copy_records_to_table(
            "stories",
            columns=[
                "id", "tenant_id", "legacy_id", "author_id", "title", "content", "visibility",
                "tags", "version", "moderation_state", "created_at", "updated_at",
            ],
            records=[
                (
                    new_id(), fixture.tenant_id, fixture.legacy_id,
                    fixture.users[number % len(fixture.users)], f"Story {number}", CONTENT,
                    VISIBILITIES[number % 3], ["bench"], 1, "visible", now, now,
                )
                for number in range(STORIES)
            ],
        )  # fmt: skip
        await connection.execute("ANALYZE stories")
    finally:
        await connection.close()
    return fixture


def _dsn(location: DatabaseLocation) -> str:
    return location.owner_url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _measure_api(
    app: Any, fixture: Fixture, *, clients: int, seconds: float
) -> tuple[Measurement, Measurement]:
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            headers = [{"X-API-Key": key} for key in fixture.keys]
            params = {"legacy_id": str(fixture.legacy_id), "limit": str(PAGE)}

            async def list_page(number: int) -> None:
                response = await client.get(
                    "/api/v1/stories", params=params, headers=headers[number]
                )
                response.raise_for_status()
                assert len(response.json()["data"]) == PAGE

            body = {"legacy_id": str(fixture.legacy_id), "title": "New", "content": CONTENT}

            async def create(number: int) -> None:
                response = await client.post("/api/v1/stories", json=body, headers=headers[number])
                response.raise_for_status()

            await closed_loop(list_page, clients=clients, seconds=min(seconds, 1.0))  # warm-up
            listing = await closed_loop(list_page, clients=clients, seconds=seconds)
            creating = await closed_loop(create, clients=clients, seconds=seconds)
            return listing, creating


async def _measure_raw(
    location: DatabaseLocation, fixture: Fixture, *, clients: int, seconds: float
) -> tuple[Measurement, Measurement]:
    pool = await asyncpg.create_pool(_dsn(location), min_size=clients, max_size=clients)
    try:

        async def list_page(number: int) -> None:
            async with pool.acquire() as connection:
                rows = await connection.fetch(
                    RAW_LIST, fixture.tenant_id, fixture.legacy_id, fixture.users[number], PAGE
                )
            assert len(rows) == PAGE

        async def create(number: int) -> None:
            story_id, user = new_id(), fixture.users[number]
            async with pool.acquire() as connection, connection.transaction():
                await connection.execute(
                    RAW_STORY, story_id, fixture.tenant_id, fixture.legacy_id, user, "New", CONTENT
                )
                await connection.execute(
                    RAW_REVISION, new_id(), fixture.tenant_id, story_id, "New", CONTENT
                )
                await connection.execute(
                    RAW_EVENT, new_id(), fixture.tenant_id, str(user), str(story_id)
                )

        await closed_loop(list_page, clients=clients, seconds=min(seconds, 1.0))  # warm-up
        listing = await closed_loop(list_page, clients=clients, seconds=seconds)
        creating = await closed_loop(create, clients=clients, seconds=seconds)
        return listing, creating
    finally:
        await pool.close()


async def measure(*, clients: int = 50, seconds: float = 10.0, rounds: int = 3) -> StoryFigures:
    """Seed a legacy of ``STORIES`` stories, then measure listing and creating over the API
    and through raw asyncpg, ``rounds`` times each."""
    configure_logging(ObservabilitySettings(log_level="WARNING", log_json=False))
    with tempfile.TemporaryDirectory(prefix="mosaic-bench-stories-") as directory:
        cluster = EmbeddedPostgres(Path(directory) / "postgres")
        cluster.start()
        try:
            # A pool as wide as the clients, so both sides queue on the same number of
            # connections rather than on the pool.
            database = DatabaseSettings(pool_size=clients, pool_max_overflow=0)
            location = DatabaseLocation.for_owner(cluster.url(), database)
            await asyncio.to_thread(runner.upgrade, location.owner_url, database)
            fixture = await _seed(location, database, clients)
            settings = Settings(
                server=ServerSettings(env=Environment.TEST),
                database=database,
                observability=ObservabilitySettings(log_level="WARNING"),
                rate_limits=RateLimitSettings(rate_limit_enabled=False),
            )
            api: list[tuple[Measurement, Measurement]] = []
            raw: list[tuple[Measurement, Measurement]] = []
            for _ in range(rounds):
                api.append(
                    await _measure_api(
                        create_app(settings, location), fixture, clients=clients, seconds=seconds
                    )
                )
                raw.append(await _measure_raw(location, fixture, clients=clients, seconds=seconds))
        finally:
            cluster.stop()
    return StoryFigures(
        list_api=median_measurement([listing for listing, _ in api]),
        list_raw=median_measurement([listing for listing, _ in raw]),
        create_api=median_measurement([creating for _, creating in api]),
        create_raw=median_measurement([creating for _, creating in raw]),
        clients=clients,
        seconds=seconds,
        rounds=rounds,
    )


def _row(name: str, figures: Measurement) -> str:
    return (
        f"| {name} | {figures.per_second:,.0f} | {figures.p50_ms:.1f} ms | "
        f"{figures.p95_ms:.1f} ms | {figures.errors} |"
    )


def markdown(figures: StoryFigures) -> str:
    """The report section for these figures."""
    rows: Sequence[tuple[str, Measurement]] = (
        (f"list a page of {PAGE} (`GET /stories?legacy_id=`), API", figures.list_api),
        ("the same list query, raw asyncpg", figures.list_raw),
        ("create a story (`POST /stories`), API", figures.create_api),
        ("story + revision + outbox inserts, raw asyncpg", figures.create_raw),
    )
    table = "\n".join(
        [
            "| operation | req/s | p50 | p95 | errors |",
            "| --- | --- | --- | --- | --- |",
            *(_row(name, measurement) for name, measurement in rows),
        ]
    )
    overhead = figures.list_raw.per_second / figures.list_api.per_second
    return (
        "## Stories\n\n"
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()} "
        f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end), "
        f"Python {platform.python_version()}, in-process ASGI against embedded PostgreSQL; "
        f"a legacy of {STORIES:,} stories (a third each public, private, personal), "
        f"{figures.clients} concurrent clients (one user and API key each), "
        f"{figures.seconds:.0f} s per run, medians of {figures.rounds} rounds. "
        "Reproduce with `python -m bench.stories`.\n\n"
        f"{table}\n\n"
        "The API list does what the raw query does plus authentication, the policy's checks "
        "(the SQL filter is compiled from the rule table), the legacy lookup, rendering 20 "
        "Markdown bodies to sanitized HTML and the JSON; the raw list is "
        f"{overhead:.1f} times the API's rate. Creating adds the legacy and role lookups, the "
        "revision and the outbox row through the ORM, provenance and the idempotency check. "
        "Client and server share one event loop here, so these are figures for comparing "
        "runs and paths, not a capacity plan.\n"
    )


def run(options: object | None = None) -> str:
    """Measure, print, and return the Markdown section (the harness's benchmark shape)."""
    quick = bool(getattr(options, "quick", False))
    clients = int(getattr(options, "connections", 0) or 50)
    seconds = float(getattr(options, "duration_seconds", 0) or 10.0)
    rounds = 1 if quick else max(1, min(int(getattr(options, "rounds", 0) or 3), 3))
    figures = asyncio.run(measure(clients=clients, seconds=seconds, rounds=rounds))
    section = markdown(figures)
    print(section)
    return section


def main() -> None:
    write_section(REPORT, NAME, run())
    print(f"wrote the {NAME} section of {REPORT}", file=sys.stderr)


if __name__ == "__main__":
    main()
