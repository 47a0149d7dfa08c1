"""The ``mosaic`` command line."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import Annotated, Any, NoReturn, TypeVar

import structlog
import typer
from alembic.util import CommandError
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic import __version__
from mosaic.core.database import DatabaseLocation, create_engine, create_sessionmaker
from mosaic.core.embedded_postgres import EmbeddedPostgresError
from mosaic.core.errors import MosaicError
from mosaic.core.logging import configure_logging
from mosaic.core.provisioning import provision_database
from mosaic.core.settings import ConfigurationError, Settings, get_settings
from mosaic.migrations import runner

T = TypeVar("T")

logger = structlog.get_logger(__name__)

# Lowercase letters, digits and hyphens: safe in URLs, file names and log lines as they are.
TENANT_SLUG = re.compile(r"^[a-z0-9-]{1,63}$")
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# The flags of ``mosaic api-keys create``, by the ApiKeyCreate field they fill.
_API_KEY_OPTIONS = {"name": "--name", "scopes": "--scope", "expires_at": "--expires-at"}

app = typer.Typer(help="Mosaic: stories and the knowledge inside them.", no_args_is_help=True)
migrate_app = typer.Typer(help="Database migrations.", invoke_without_command=True)
tenants_app = typer.Typer(
    help="Tenants (operator commands, run as the database owner).", no_args_is_help=True
)
api_keys_app = typer.Typer(
    help="API keys (operator commands, run as the database owner).", no_args_is_help=True
)
app.add_typer(migrate_app, name="migrate")
app.add_typer(tenants_app, name="tenants")
keys_app = typer.Typer(help="Access-token signing keys (operator commands).")
app.add_typer(api_keys_app, name="api-keys")
app.add_typer(keys_app, name="keys")
scheduler_app = typer.Typer(
    help="The scheduler role: cron and interval jobs, one leader at a time.",
    invoke_without_command=True,
)
app.add_typer(scheduler_app, name="scheduler")


@app.command()
def version() -> None:
    """Print Mosaic's version."""
    typer.echo(__version__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Overrides MOSAIC_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides MOSAIC_PORT")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="HTTP worker processes; overrides MOSAIC_WEB_CONCURRENCY"),
    ] = None,
) -> None:
    """Migrate, then serve the API until SIGINT/SIGTERM (in-flight requests finish)."""
    import uvicorn

    from mosaic.app import create_app

    with _operator_errors():
        settings = _settings()
        http_workers = workers or settings.server.web_concurrency
        options = _uvicorn_options(settings, host=host, port=port)
        # A stop requested by a signal is a clean exit (0) once PostgreSQL has stopped.
        with (
            _stop_on_signals(exit_code=0) as stop,
            provision_database(settings.database, exclusive=True) as location,
            stop.interruptible(),
        ):
            if settings.database.migrate_on_start:
                runner.upgrade(location.owner_url, settings.database)
            _log_serving(settings, http_workers)
            if http_workers > 1:
                from mosaic.serve import serve_in_processes

                if not serve_in_processes(
                    settings, location, workers=http_workers, uvicorn_options=options
                ):
                    _fail("The HTTP workers could not start: their log lines above say why.")
                return
            # uvicorn handles SIGINT/SIGTERM while it runs (stop accepting, let in-flight
            # requests finish for up to graceful_shutdown_seconds), then re-raises the signal,
            # which reaches _stop_on_signals and unwinds through the PostgreSQL stop.
            from mosaic.serve import frozen_after_startup

            uvicorn.run(
                frozen_after_startup(
                    create_app(
                        settings,
                        location,
                        run_worker=settings.events.run_worker,
                        run_scheduler=settings.scheduler.scheduler_in_serve,
                    )
                ),
                **options,
            )


def _uvicorn_options(settings: Settings, *, host: str | None, port: int | None) -> dict[str, Any]:
    """What uvicorn is told besides the application, with one HTTP process or several."""
    return {
        "host": host or settings.server.host,
        "port": port or settings.server.port,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": settings.server.graceful_shutdown_seconds,
        "server_header": False,
    }


def _log_serving(settings: Settings, http_workers: int) -> None:
    # One process runs everything; several HTTP workers leave the rest to a background process.
    logger.info(
        "serve_starting",
        http_workers=http_workers,
        background_process=http_workers > 1
        and (settings.events.run_worker or settings.scheduler.scheduler_in_serve),
    )
    if http_workers > 1 and settings.rate_limits.redis_url is None:
        logger.warning(
            "rate_limits_counted_per_worker",
            http_workers=http_workers,
            advice="set MOSAIC_REDIS_URL so that the workers share their counts",
        )


@migrate_app.callback()
def migrate(
    ctx: typer.Context,
    revision: Annotated[str, typer.Option(help="Target revision")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: head)."""
    if ctx.invoked_subcommand is not None:
        return
    with _operator_errors(), _database() as (settings, location):
        runner.upgrade(location.owner_url, settings.database, revision)
    typer.echo(f"Database migrated to {revision}.")


@migrate_app.command("downgrade")
def migrate_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base")],
) -> None:
    """Revert migrations down to REVISION."""
    with _operator_errors(), _database() as (settings, location):
        runner.downgrade(location.owner_url, settings.database, revision)
    typer.echo(f"Database downgraded to {revision}.")


@migrate_app.command("current")
def migrate_current() -> None:
    """Show the database's current revision (nothing when no migration is applied)."""
    with _operator_errors(), _database() as (settings, location):
        runner.current(location.owner_url, settings.database)


@tenants_app.command("create")
def tenants_create(
    slug: Annotated[str, typer.Option(help="Short unique name, e.g. 'smith-family'")],
    name: Annotated[str, typer.Option(help="Display name")],
) -> None:
    """Create a tenant and print it as JSON."""
    from pydantic import TypeAdapter

    from mosaic.identity import service
    from mosaic.identity.schemas import Name, TenantRead

    if not TENANT_SLUG.match(slug):
        _fail(f"Invalid --slug {slug!r}: use 1 to 63 lowercase letters, digits and hyphens.")
    try:
        display_name = TypeAdapter(Name).validate_python(name)
    except ValidationError as exc:
        _fail(f"Invalid --name: {_first_message(exc)}")

    async def create(session: AsyncSession) -> TenantRead:
        created = await service.create_tenant(session, slug=slug, name=display_name)
        return TenantRead.model_validate(created)

    tenant = _run_as_owner(create)
    typer.echo(tenant.model_dump_json(indent=2))


@api_keys_app.command("create")
def api_keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant slug")],
    name: Annotated[str, typer.Option(help="What the key is for")],
    scope: Annotated[
        list[str] | None, typer.Option(help="Scope to grant (repeatable; default: all)")
    ] = None,
    expires_at: Annotated[
        str | None,
        typer.Option(help="Expiry, ISO 8601 with a time zone, e.g. 2030-01-31T00:00:00Z"),
    ] = None,
) -> None:
    """Create an API key for a tenant and print it, once, as JSON."""
    from mosaic.identity import service
    from mosaic.identity.schemas import KNOWN_SCOPES, ApiKeyCreate, ApiKeyCreated, ApiKeyRead

    try:
        data = ApiKeyCreate(
            name=name,
            scopes=scope or sorted(KNOWN_SCOPES),
            expires_at=_parse_expiry(expires_at) if expires_at is not None else None,
        )
    except ValidationError as exc:
        _fail(
            "\n".join(
                f"Invalid {_API_KEY_OPTIONS.get(str(error['loc'][0]), error['loc'][0])}: "
                f"{_clean(error['msg'])}"
                for error in exc.errors()
            )
        )

    async def create(session: AsyncSession) -> ApiKeyCreated:
        found = await service.find_tenant(session, slug=tenant)
        key, plaintext = await service.create_api_key(
            session, tenant_id=found.id, data=data, granted_by=None
        )
        return ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), key=plaintext)

    created = _run_as_owner(create)
    typer.echo(created.model_dump_json(indent=2))
    typer.secho("Store the key now: it is not shown again.", err=True, fg=typer.colors.YELLOW)


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Sign new access tokens with a fresh key; older keys verify until their tokens expire."""
    from mosaic.identity import audit, signing_keys

    secret_key = _settings().security.secret_key.get_secret_value()

    async def rotate(session: AsyncSession) -> str:
        key = await signing_keys.rotate_signing_keys(session, secret_key=secret_key)
        await audit.record(
            session,
            audit.AuditRecord(
                action=audit.AuditAction.SIGNING_KEY_ROTATED, actor="cli", subject=f"kid:{key.kid}"
            ),
        )
        return key.kid

    kid = _run_as_owner(rotate)
    typer.echo(f"New signing key {kid}; running API processes switch to it within a minute.")


@scheduler_app.callback()
def scheduler(ctx: typer.Context) -> None:
    """Run the scheduler until SIGINT/SIGTERM; among running schedulers one leads."""
    if ctx.invoked_subcommand is not None:
        return
    from mosaic.schedule import scheduled_jobs
    from mosaic.scheduling.runner import owner_database, run_scheduler

    async def schedule(
        settings: Settings, location: DatabaseLocation, signals: _SignalStop
    ) -> None:
        database = owner_database(location, settings.database)
        stop = asyncio.Event()

        async def stop_on_signal() -> None:
            # The signal handler only records the signal (outside ``interruptible``): running
            # jobs then finish or are recorded as interrupted, and the leader lock is released.
            # Polled, since a plain signal handler cannot safely touch the event loop.
            while signals.received is None:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            stop.set()

        watcher = asyncio.create_task(stop_on_signal())
        try:
            await run_scheduler(settings, database, stop, jobs=scheduled_jobs(settings))
        finally:
            watcher.cancel()
            await database.dispose()

    with _operator_errors():
        settings = _settings()
        with (
            _stop_on_signals(exit_code=0) as signals,
            provision_database(settings.database, exclusive=False) as location,
        ):
            with signals.interruptible():
                if settings.database.migrate_on_start:
                    runner.upgrade(location.owner_url, settings.database)
            asyncio.run(schedule(settings, location, signals))


@scheduler_app.command("jobs")
def scheduler_jobs() -> None:
    """List the scheduled jobs: name, schedule and next due time (UTC)."""
    from mosaic.schedule import scheduled_jobs

    now = datetime.now(UTC)
    for job in scheduled_jobs(_settings()):
        due = job.schedule.next_due(now)
        typer.echo(f"{job.name:<45} {job.schedule!s:<24} next {due:%Y-%m-%dT%H:%M:%SZ}")


@scheduler_app.command("runs")
def scheduler_runs(
    job: Annotated[str | None, typer.Option(help="Only this job's runs")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first")] = 20,
) -> None:
    """List recent job runs, newest first: due time, job, status, attempts, duration, error."""
    from mosaic.scheduling import repository

    async def runs(session: AsyncSession) -> list[str]:
        found = await repository.latest_runs(session, job=job, limit=limit)
        return [
            f"{run.scheduled_for:%Y-%m-%dT%H:%M:%SZ} {run.job:<45} {run.status.value:<9} "
            f"attempt {run.attempt} "
            f"{'' if run.duration_ms is None else f'{run.duration_ms} ms'}"
            f"{'' if run.error is None else f'  {run.error}'}"
            for run in found
        ]

    for line in _run_as_owner(runs):
        typer.echo(line)


def _parse_expiry(value: str) -> datetime:
    bad = (
        f"Invalid --expires-at {value!r}: use ISO 8601 with a time zone, e.g. 2030-01-31T00:00:00Z"
    )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        _fail(bad)
    if parsed.tzinfo is None:
        _fail(bad)
    return parsed


def _settings() -> Settings:
    settings = get_settings()
    configure_logging(settings.observability)
    return settings


@contextmanager
def _database() -> Iterator[tuple[Settings, DatabaseLocation]]:
    """The settings and the database of a short command; it stops what it started."""
    settings = _settings()
    with (
        _stop_on_signals(exit_code=None) as stop,
        provision_database(settings.database, exclusive=False) as location,
        stop.interruptible(),
    ):
        yield settings, location


def _run_as_owner(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one owner transaction on a migrated database; exit 1 on a known error."""
    with _operator_errors(), _database() as (settings, location):
        runner.upgrade(location.owner_url, settings.database)
        return asyncio.run(_in_owner_transaction(location, settings, work))


async def _in_owner_transaction(
    location: DatabaseLocation, settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    engine = create_engine(location.owner_url, settings.database, application_name="mosaic-cli")
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


@contextmanager
def _operator_errors() -> Iterator[None]:
    """Turn the errors an operator can cause or fix into a message and exit code 1."""
    try:
        yield
    except MosaicError as exc:
        _fail(f"{exc.code}: {exc.message}")
    except (ConfigurationError, EmbeddedPostgresError) as exc:
        _fail(str(exc))
    except CommandError as exc:
        _fail(f"Migration failed: {exc}")
    except (ConnectionError, TimeoutError, socket.gaierror) as exc:
        _fail(f"Cannot reach the database: {exc}")
    except DBAPIError as exc:
        # No statement means the connection itself failed (unknown database or role, bad
        # password): the operator's to fix. A failing statement is a bug and keeps its trace.
        if exc.statement is not None:
            raise
        _fail(f"Cannot connect to the database: {exc.orig}")


class _StopRequested(Exception):
    """SIGINT or SIGTERM arrived: unwind, stopping what this process started."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _SignalStop:
    """Turns the first SIGINT/SIGTERM into ``_StopRequested``, but only where that is safe.

    Interrupting initdb or pg_ctl half-way can leave a cluster that never starts again, so
    outside ``interruptible()`` a signal is only recorded, and acted on once the work is done.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._interruptible = False

    def handle(self, signum: int, _: FrameType | None) -> None:
        if self.received is not None:
            # A second signal must not interrupt the stop the first one started.
            logger.warning("stop_already_in_progress", signal=signal.Signals(signum).name)
            return
        self.received = signum
        if self._interruptible:
            raise _StopRequested(signum)

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        if self.received is not None:
            raise _StopRequested(self.received)
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False


@contextmanager
def _stop_on_signals(*, exit_code: int | None) -> Iterator[_SignalStop]:
    """Let SIGINT/SIGTERM unwind the block, so the embedded PostgreSQL is always stopped.

    The default SIGTERM action would end the process on the spot and leave the cluster
    running. ``exit_code`` is the exit status after such a stop; ``None`` means 128 + signal,
    the shell's convention for a command that was interrupted.
    """
    stop = _SignalStop()
    previous = {sig: signal.signal(sig, stop.handle) for sig in _STOP_SIGNALS}
    try:
        yield stop
    except _StopRequested:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop.received is not None:
        logger.info("stopped_by_signal", signal=signal.Signals(stop.received).name)
        code = 128 + stop.received if exit_code is None else exit_code
        if code:
            raise typer.Exit(code=code)


def _fail(message: str) -> NoReturn:
    typer.secho(message, err=True, fg=typer.colors.RED)
    raise typer.Exit(code=1)


def _first_message(exc: ValidationError) -> str:
    return _clean(exc.errors()[0]["msg"])


def _clean(message: str) -> str:
    return message.removeprefix("Value error, ")


# --- Domain events: the worker, replays and dead letters -------------------------------------

events_app = typer.Typer(
    help="Domain events: replays and dead letters (operator commands, run as the database owner).",
    no_args_is_help=True,
)
dead_letters_app = typer.Typer(help="Deliveries consumers gave up on.", no_args_is_help=True)
app.add_typer(events_app, name="events")
events_app.add_typer(dead_letters_app, name="dead-letters")


@app.command()
def worker(
    consumer: Annotated[
        list[str] | None, typer.Option(help="Run only this consumer (repeatable; default: all)")
    ] = None,
    relay: Annotated[bool, typer.Option(help="Also relay the outbox to the bus")] = True,
) -> None:
    """Relay the outbox and run the event consumers until SIGINT/SIGTERM (in-flight finish)."""
    from mosaic.event_consumers import CONSUMER_NAMES, consumers

    unknown = sorted(set(consumer or ()) - set(CONSUMER_NAMES))
    if unknown:
        _fail(f"Unknown --consumer {', '.join(unknown)}: known are {', '.join(CONSUMER_NAMES)}.")
    with _operator_errors(), _database() as (settings, location):
        table = consumers(settings)
        chosen = {name: table[name] for name in consumer} if consumer else table
        if settings.database.migrate_on_start:
            runner.upgrade(location.owner_url, settings.database)
        asyncio.run(_run_worker(settings, location, chosen, relay=relay))


async def _run_worker(
    settings: Settings, location: DatabaseLocation, consumers: dict[str, Any], *, relay: bool
) -> None:
    from mosaic.events.runtime import EventRuntime

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}
    # SIGINT/SIGTERM stop taking work and let in-flight handlers finish.
    for sig in _STOP_SIGNALS:
        loop.add_signal_handler(sig, stopping.set)
    runtime = EventRuntime(settings, location, consumers=consumers)
    try:
        await runtime.start(relay=relay)
        logger.info("worker_started", consumers=sorted(consumers), relay=relay)
        await stopping.wait()
        logger.info("worker_stopping")
    finally:
        await runtime.stop()
        for sig in _STOP_SIGNALS:
            loop.remove_signal_handler(sig)
            signal.signal(sig, previous[sig])


@events_app.command("replay")
def events_replay(
    consumer: Annotated[str, typer.Option(help="The consumer to re-deliver to")],
    since: Annotated[str, typer.Option(help="ISO 8601 with a time zone, e.g. 2030-01-31T00:00Z")],
) -> None:
    """Re-deliver the published events still in the outbox since SINCE to one consumer."""
    from mosaic.event_consumers import CONSUMER_NAMES, consumers
    from mosaic.events.bus_factory import create_bus
    from mosaic.events.replay import replay_since

    if consumer not in CONSUMER_NAMES:
        _fail(f"Unknown --consumer {consumer}: known are {', '.join(CONSUMER_NAMES)}.")
    moment = _parse_moment(since, "--since")

    async def replay(settings: Settings, location: DatabaseLocation) -> int:
        bus = create_bus(settings, location)
        await bus.start()
        try:
            return await replay_since(
                location.owner_url,
                bus,
                consumer_name=consumer,
                consumer=consumers(settings)[consumer],
                since=moment,
            )
        finally:
            await bus.close()

    with _operator_errors(), _database() as (settings, location):
        runner.upgrade(location.owner_url, settings.database)
        count = asyncio.run(replay(settings, location))
    typer.echo(f"Re-delivered {count} events to {consumer}.")


@dead_letters_app.command("list")
def dead_letters_list(
    consumer: Annotated[str | None, typer.Option(help="Only this consumer's")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
) -> None:
    """List dead letters, oldest first, one JSON object a line."""
    from mosaic.events import dead_letters
    from mosaic.events.schemas import DeadLetterSummary

    async def rows(session: AsyncSession) -> list[str]:
        found = await dead_letters.list_dead_letters(
            session, consumer=consumer, after=None, limit=limit
        )
        return [DeadLetterSummary.model_validate(row).model_dump_json() for row in found]

    for line in _run_as_owner(rows):
        typer.echo(line)


@dead_letters_app.command("show")
def dead_letters_show(dead_letter_id: Annotated[int, typer.Argument(help="Its id")]) -> None:
    """Print one dead letter, its body and reason included, as JSON."""
    from mosaic.events import dead_letters
    from mosaic.events.schemas import DeadLetterRead

    async def show(session: AsyncSession) -> str:
        found = await dead_letters.get(session, dead_letter_id)
        return DeadLetterRead.model_validate(found).model_dump_json(indent=2)

    typer.echo(_run_as_owner(show))


@dead_letters_app.command("replay")
def dead_letters_replay(dead_letter_id: Annotated[int, typer.Argument(help="Its id")]) -> None:
    """Re-deliver a dead letter to its consumer (a fresh set of attempts) and drop it."""
    from mosaic.events import dead_letters
    from mosaic.events.bus_factory import create_bus
    from mosaic.identity.audit import AuditAction, record

    async def replay(settings: Settings, location: DatabaseLocation) -> str:
        bus = create_bus(settings, location)
        await bus.start()
        try:
            engine = create_engine(
                location.owner_url, settings.database, application_name="mosaic-cli"
            )
            try:
                async with create_sessionmaker(engine)() as session, session.begin():
                    found = await dead_letters.replay(session, bus, dead_letter_id)
                    replayed = AuditAction.DEAD_LETTER_REPLAYED
                    await record(session, dead_letters.audit_record(replayed, found, actor="cli"))
                    return found.consumer
            finally:
                await engine.dispose()
        finally:
            await bus.close()

    with _operator_errors(), _database() as (settings, location):
        runner.upgrade(location.owner_url, settings.database)
        consumer = asyncio.run(replay(settings, location))
    typer.echo(f"Dead letter {dead_letter_id} re-delivered to {consumer}.")


@dead_letters_app.command("discard")
def dead_letters_discard(dead_letter_id: Annotated[int, typer.Argument(help="Its id")]) -> None:
    """Delete a dead letter for good."""
    from mosaic.events import dead_letters
    from mosaic.identity.audit import AuditAction, record

    async def discard(session: AsyncSession) -> None:
        found = await dead_letters.discard(session, dead_letter_id)
        discarded = AuditAction.DEAD_LETTER_DISCARDED
        await record(session, dead_letters.audit_record(discarded, found, actor="cli"))

    _run_as_owner(discard)
    typer.echo(f"Dead letter {dead_letter_id} discarded.")


def _parse_moment(value: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        _fail(f"Invalid {option} {value!r}: use ISO 8601 with a time zone, e.g. 2030-01-31T00:00Z")
    return parsed


def main() -> None:
    """Entry point of the ``mosaic`` script."""
    app()
