"""Benchmark ``stories``: listing a page of a large legacy and writing stories, over HTTP,
beside raw asyncpg doing the same database work in the same run (issue [3/4], seed 003
SC-001: p95 under 200 ms at 500 requests/s is the floor)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg
import httpx
import uuid_utils

from bench import baseline
from bench.api import measure_targets
from bench.api_results import Results, Target, result_rows
from bench.machine import describe, load_average
from bench.options import RunOptions
from bench.report import markdown_table, text_table
from bench.server import RunningServer, bare_app, mosaic_server
from bench.stats import median_measurement
from bench.wrk import ensure_wrk, wrk_version
from mosaic.core.embedded_postgres import DATABASE_NAME
from mosaic.core.settings import DatabaseSettings

NAME = "stories"
STORIES_IN_LEGACY = 10_000
PAGE_SIZE = 20
BARE_PATH = "/stories"  # bench.bare_app's one path: GET lists, POST writes
PASSWORD = "correct horse battery staple"  # noqa: S105 - a throwaway benchmark account
SUPERUSER = "postgres"
# What the benchmark changes in the server's defaults, and why (the report repeats it):
# One HTTP worker process per core this benchmark may use, as docs/operations.md advises.
WORKERS = len(os.sched_getaffinity(0))
SERVER_SETTINGS = {
    # Seed 002's 10 stories a minute per user would turn the write target into a 429 test.
    "MOSAIC_RATE_LIMIT_ENABLED": "false",
    "MOSAIC_WEB_CONCURRENCY": str(WORKERS),
}
STORY_BODY = {
    "title": "A summer at the lake",
    "content": "We rowed out every morning. *She* always won.\n\n- the dock\n- the boat",
    "visibility": "private",
    "tags": ["summer", "lake"],
}

# The statements behind each endpoint, minus authentication (token verification and the
# user's status, which the app also checks): bind the tenant, find the legacy, the caller's
# membership, then the work itself.
BIND_TENANT = "SELECT set_config('mosaic.tenant_id', $1, true)"
FIND_LEGACY = "SELECT id, tenant_id, name FROM legacies WHERE id = $1 AND deleted_at IS NULL"
FIND_MEMBER = "SELECT role, state FROM legacy_members WHERE legacy_id = $1 AND user_id = $2"
LIST_PAGE = (
    "SELECT * FROM stories WHERE legacy_id = $1 AND deleted_at IS NULL "
    "AND moderation_state = 'visible' "
    "AND (visibility IN ('public', 'private') OR author_id = $2) "
    "ORDER BY id DESC LIMIT $3"
)


@dataclass(frozen=True)
class Seeded:
    """The legacy under load: its id, tenant, the member who reads and writes, a template
    story (copied to make the others) and the request headers."""

    legacy_id: UUID
    tenant_id: UUID
    user_id: UUID
    template_story_id: UUID
    bearer: dict[str, str]


def run(options: RunOptions) -> str:
    """Measure, print the table, and return the Markdown section."""
    wrk = ensure_wrk()
    database = DatabaseSettings()
    pool_size = database.pool_size + database.pool_max_overflow
    with mosaic_server(SERVER_SETTINGS) as server:
        stories = STORIES_IN_LEGACY if not options.quick else 500
        seeded = _seed(server, stories)
        statements = asyncio.run(_copy_statements(server, seeded.template_story_id))
        body = json.dumps({"legacy_id": str(seeded.legacy_id), **STORY_BODY})
        headers = {**seeded.bearer, "Content-Type": "application/json"}
        targets = [
            Target(
                label=f"GET /api/v1/stories?legacy_id=…&limit={PAGE_SIZE}",
                description=(
                    f"a member lists the newest page of {PAGE_SIZE} from a legacy with "
                    f"{stories:,} stories (`Authorization: Bearer`, visibility filtered)."
                ),
                path=f"/api/v1/stories?legacy_id={seeded.legacy_id}&limit={PAGE_SIZE}",
                headers=seeded.bearer,
                baseline_label="asyncpg: bind tenant, legacy, member, page (1 transaction)",
                workload=list_page(seeded),
                bare_path=BARE_PATH,
                bare_label="bare FastAPI endpoint running the asyncpg statements, page as JSON",
            ),
            Target(
                label="POST /api/v1/stories",
                description=(
                    "a member writes a story: validation, Markdown rendered and sanitized, "
                    "the story, its first revision and its `StoryCreated` outbox event in one "
                    "transaction."
                ),
                path="/api/v1/stories",
                headers=headers,
                method="POST",
                body=body,
                baseline_label="asyncpg: bind tenant, legacy, member, 3 inserts (1 transaction)",
                workload=create_story(seeded, statements),
                bare_path=BARE_PATH,
                bare_label="bare FastAPI endpoint running the asyncpg statements",
            ),
        ]
        _check(server, targets)
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
        config = _bare_config(connection, seeded, statements)
        with bare_app(config, workers=WORKERS) as bare:
            series, ceiling = measure_targets(
                wrk,
                server,
                connection,
                targets,
                options,
                settle=lambda: _events_drained(server),
                bare=bare,
            )
        machine.append(("Load average as measuring ended", load_average()))
    results = Results(series=series, ceiling=ceiling, machine=machine, notes=[])
    print()
    print(text_table(*result_rows(results)))
    print()
    return _markdown(results, options, pool_size, stories)


def _bare_config(
    connection: baseline.BaselineTarget, seeded: Seeded, statements: CopyStatements
) -> str:
    """What ``bench.bare_app`` needs: where to connect, as whom, and what to run."""
    return json.dumps(
        {
            "socket_dir": connection.postmaster.socket_dir,
            "user": connection.user,
            "database": connection.database,
            # As each of Mosaic's workers: the pool's size kept, growing up to the baseline's.
            "pool_min_size": DatabaseSettings().pool_size,
            "pool_size": connection.pool_size,
            "legacy_id": str(seeded.legacy_id),
            "tenant_id": str(seeded.tenant_id),
            "user_id": str(seeded.user_id),
            "template_story_id": str(seeded.template_story_id),
            "statements": dataclasses.asdict(statements),
        }
    )


def _seed(server: RunningServer, stories: int) -> Seeded:
    """A user, a legacy and one story through the API; the rest copied from it in SQL."""
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        email = "bench-stories@example.com"
        _ok(client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD}))
        login = _ok(client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}))
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        legacy = _ok(client.post("/api/v1/legacies", json={"name": "Ada Bench"}, headers=bearer))
        legacy_id = UUID(legacy.json()["id"])
        story = _ok(
            client.post(
                "/api/v1/stories",
                json={"legacy_id": str(legacy_id), **STORY_BODY},
                headers=bearer,
            )
        )
        template = UUID(story.json()["id"])
    tenant_id, user_id = asyncio.run(_copy_stories(server, template, stories - 1))
    return Seeded(legacy_id, tenant_id, user_id, template, bearer)


async def _copy_stories(server: RunningServer, template: UUID, count: int) -> tuple[UUID, UUID]:
    """Insert ``count`` copies of the template story (new time-ordered ids, numbered titles)
    as the superuser, and return the template's tenant and author."""
    connection = await asyncpg.connect(
        host=server.postmaster.socket_dir, user=SUPERUSER, database=DATABASE_NAME
    )
    try:
        row = await connection.fetchrow(
            "SELECT tenant_id, author_id FROM stories WHERE id = $1", template
        )
        if row is None:
            raise LookupError("the template story was not written")
        columns = await _columns(connection, "stories")
        others = [column for column in columns if column not in ("id", "title")]
        # Ids minted oldest first, so id order is creation order, as the app's UUIDv7s are.
        ids = [UUID(str(uuid_utils.uuid7())) for _ in range(count)]
        await connection.execute(
            f"INSERT INTO stories (id, title, {', '.join(others)}) "  # noqa: S608 - catalog names
            f"SELECT new.id, 'Story ' || new.n, {', '.join('s.' + c for c in others)} "
            "FROM unnest($1::uuid[]) WITH ORDINALITY AS new(id, n), stories s WHERE s.id = $2",
            ids,
            template,
        )
        await connection.execute("ANALYZE stories")
        return row["tenant_id"], row["author_id"]
    finally:
        await connection.close()


async def _columns(connection: asyncpg.Connection[asyncpg.Record], table: str) -> list[str]:
    rows = await connection.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
        "AND is_generated = 'NEVER' AND identity_generation IS NULL ORDER BY ordinal_position",
        table,
    )
    return [row["column_name"] for row in rows]


def list_page(
    seeded: Seeded,
) -> Callable[[baseline.PooledConnection], Awaitable[list[asyncpg.Record]]]:
    """Read the newest page (with one row more, as the app does): the rows."""

    async def run(connection: baseline.PooledConnection) -> list[asyncpg.Record]:
        async with connection.transaction():
            await connection.fetchval(BIND_TENANT, str(seeded.tenant_id))
            if await connection.fetchrow(FIND_LEGACY, seeded.legacy_id) is None:
                raise LookupError("row-level security hid the legacy")
            await connection.fetchrow(FIND_MEMBER, seeded.legacy_id, seeded.user_id)
            page = await connection.fetch(
                LIST_PAGE, seeded.legacy_id, seeded.user_id, PAGE_SIZE + 1
            )
            if len(page) != PAGE_SIZE + 1:
                raise LookupError(f"a page of {len(page)} stories")
        return page

    return run


@dataclass(frozen=True)
class CopyStatements:
    """INSERTs copying the template's story and first revision, built from the catalog, and
    the template's ``StoryCreated`` event (the application role may not read the outbox)."""

    story: str
    revision: str
    event_actor: str | None
    event_payload: str


def create_story(
    seeded: Seeded, statements: CopyStatements
) -> Callable[[baseline.PooledConnection], Awaitable[UUID]]:
    """Insert a story, a revision and an outbox event, each copied from the template's rows
    with new ids: the same rows and indexes the endpoint writes. The new story's id."""

    async def run(connection: baseline.PooledConnection) -> UUID:
        story_id = UUID(str(uuid_utils.uuid7()))
        async with connection.transaction():
            await connection.fetchval(BIND_TENANT, str(seeded.tenant_id))
            if await connection.fetchrow(FIND_LEGACY, seeded.legacy_id) is None:
                raise LookupError("row-level security hid the legacy")
            await connection.fetchrow(FIND_MEMBER, seeded.legacy_id, seeded.user_id)
            await connection.execute(statements.story, story_id, seeded.template_story_id)
            await connection.execute(
                statements.revision,
                UUID(str(uuid_utils.uuid7())),
                story_id,
                seeded.template_story_id,
            )
            await connection.execute(
                _OUTBOX,
                UUID(str(uuid_utils.uuid7())),
                seeded.tenant_id,
                str(story_id),
                statements.event_actor,
                statements.event_payload,
            )
        return story_id

    return run


# The template story's own StoryCreated event, copied: the relay and the consumers then do for
# the baseline's stories exactly what they do for the endpoint's.
_OUTBOX = (
    "INSERT INTO outbox_events (id, type, version, occurred_at, tenant_id, actor_id, "
    "resource_kind, resource_id, payload) "
    "VALUES ($1, 'StoryCreated', 1, now(), $2, $4, 'story', $3, $5::jsonb)"
)
_TEMPLATE_EVENT = (
    "SELECT actor_id, payload::text AS payload FROM outbox_events "
    "WHERE resource_id = $1 AND type = 'StoryCreated'"
)
# Events not yet published by the relay, and deliveries not yet taken by a consumer.
_EVENTS_IN_FLIGHT = (
    "SELECT (SELECT count(*) FROM outbox_events WHERE published_at IS NULL)"
    " + (SELECT count(*) FROM event_deliveries)"
)
SETTLE_TIMEOUT_SECONDS = 600.0


def _events_drained(server: RunningServer) -> None:
    """Wait until the background process has handled every event the last run caused."""

    async def in_flight() -> int:
        connection = await asyncpg.connect(
            host=server.postmaster.socket_dir, user=SUPERUSER, database=DATABASE_NAME
        )
        try:
            count: int = await connection.fetchval(_EVENTS_IN_FLIGHT)
        finally:
            await connection.close()
        return count

    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while (left := asyncio.run(in_flight())) > 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{left} events still in flight after {SETTLE_TIMEOUT_SECONDS} s")
        time.sleep(0.5)


def _check(server: RunningServer, targets: Sequence[Target]) -> None:
    """Each target answers 2xx before anything is measured."""
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        for target in targets:
            response = client.request(
                target.method, target.path, headers=target.headers, content=target.body
            )
            if response.status_code >= 300:
                raise RuntimeError(
                    f"{target.label} answered {response.status_code}: {response.text[:300]}"
                )


async def _copy_statements(server: RunningServer, template: UUID) -> CopyStatements:
    connection = await asyncpg.connect(
        host=server.postmaster.socket_dir, user=SUPERUSER, database=DATABASE_NAME
    )
    try:
        story = [c for c in await _columns(connection, "stories") if c != "id"]
        revision = [
            c for c in await _columns(connection, "story_revisions") if c not in ("id", "story_id")
        ]
        event = await connection.fetchrow(_TEMPLATE_EVENT, str(template))
        if event is None:
            raise LookupError("the template story has no StoryCreated event")
    finally:
        await connection.close()
    return CopyStatements(
        story=(
            f"INSERT INTO stories (id, {', '.join(story)}) "  # noqa: S608 - catalog names
            f"SELECT $1, {', '.join(story)} FROM stories WHERE id = $2"
        ),
        revision=(
            f"INSERT INTO story_revisions (id, story_id, {', '.join(revision)}) "  # noqa: S608
            f"SELECT $1, $2, {', '.join(revision)} FROM story_revisions WHERE story_id = $3 "
            "ORDER BY version LIMIT 1"
        ),
        event_actor=event["actor_id"],
        event_payload=event["payload"],
    )


def _ok(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 300:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:300]}"
        )
    return response


def _markdown(results: Results, options: RunOptions, pool_size: int, stories: int) -> str:
    command = (
        f"python -m bench {NAME} --quick"
        if options.quick
        else f"python -m bench {NAME} --rounds {options.rounds} "
        f"--duration {options.duration_seconds:g} --connections {options.connections}"
    )
    headers, rows = result_rows(results)
    settings = ", ".join(f"`{name}={value}`" for name, value in SERVER_SETTINGS.items())
    parts = [
        "## Stories: a page of a large legacy, and writing stories",
        f"Measured with `{command}`.",
    ]
    if options.quick:
        parts.append("**Quick smoke run: these figures only show that the harness works.**")
    parts += [
        "### Machine",
        markdown_table(("", ""), [[f"**{label}**", value] for label, value in results.machine]),
        "### Method",
        "\n".join(
            [
                f"- **Load**: wrk, {options.connections} keep-alive connections over "
                f"{options.load_threads} threads, {options.duration_seconds:g} s per run, "
                f"{options.rounds} rounds interleaved with the baseline; medians over rounds.",
                f"- **Server**: `mosaic serve` as a subprocess: {WORKERS} HTTP worker "
                f"process{'es' if WORKERS > 1 else ''} (uvicorn; a pool of up to {pool_size} "
                "connections each) and one background process (the outbox relay, the event "
                f"consumers and the scheduler), on embedded PostgreSQL, with {settings}. Its "
                "CPU figures add up all of these processes.",
                f"- **Data**: one registered user owning one legacy with {stories:,} stories "
                "(one written through the API, the rest copied from it in SQL with "
                "time-ordered ids); the write target adds to it while the runs go on.",
                *(
                    f"- **Target** `{entry.target.label}`: {entry.target.description}"
                    for entry in results.series
                ),
                "- **Between runs**: the benchmark waits until the outbox relay and the "
                "consumers have handled every event earlier runs caused (the baseline's stories "
                "carry a copy of a real `StoryCreated` event), so no run is billed for another's "
                "aftermath; a run's own events are handled while it runs.",
                "- **Baseline**: raw asyncpg as the application's role (row-level security "
                f"applies), a pool of {pool_size}, {options.connections} concurrent tasks, "
                "running each endpoint's statements without authentication (token "
                "verification and the user's status check are Mosaic's extra work).",
                f"- **Bare framework**: `bench.bare_app`, FastAPI on uvicorn with {WORKERS} "
                f"worker{'s' if WORKERS > 1 else ''} as `mosaic serve` runs them, one endpoint "
                "per target running the baseline's statements through an asyncpg pool and "
                "answering with JSON (the page's rows, or the new id): no authentication, "
                "policy, ORM, middleware or event handling. Between it and the baseline is "
                "the HTTP framework's cost; between it and Mosaic, Mosaic's own work.",
            ]
        ),
        f"### Results (medians of {options.rounds} rounds)",
        markdown_table(headers, rows),
        "### Against seed 003 SC-001 (p95 < 200 ms at 500 requests/s)",
        _verdict(results),
    ]
    return "\n\n".join(parts)


def _verdict(results: Results) -> str:
    lines = []
    for entry in results.series:
        http = median_measurement(entry.http)
        raw = median_measurement(entry.baseline)
        rate = f"{http.per_second:,.0f} requests/s"
        ratio = statistics.median(
            h.per_second / b.per_second for h, b in zip(entry.http, entry.baseline, strict=True)
        )
        meets = http.per_second >= 500 and http.p95_ms < 200
        bare = ""
        if entry.bare:
            floor = median_measurement(entry.bare)
            bare = (
                f"; the bare FastAPI endpoint did {floor.per_second:,.0f}/s at p95 "
                f"{floor.p95_ms:.0f} ms, Mosaic {http.per_second / floor.per_second:.2f}x of it"
            )
        lines.append(
            f"- `{entry.target.label}`: {rate} at p95 {http.p95_ms:.0f} ms — "
            + ("**meets** the floor" if meets else "**below** the floor")
            + f" ({http.per_second / 500:.2f}x the rate; raw asyncpg did "
            f"{raw.per_second:,.0f}/s at p95 {raw.p95_ms:.0f} ms, "
            f"{ratio:.2f}x of it in Mosaic{bare})."
        )
    return "\n".join(lines)
