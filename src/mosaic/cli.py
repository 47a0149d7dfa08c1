"""The ``mosaic`` command line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic import __version__
from mosaic.core.database import DatabaseLocation, create_engine, create_sessionmaker
from mosaic.core.embedded_postgres import EmbeddedPostgresAlreadyRunning
from mosaic.core.errors import MosaicError
from mosaic.core.logging import configure_logging
from mosaic.core.provisioning import provision_database
from mosaic.core.settings import Settings, get_settings
from mosaic.migrations import runner

T = TypeVar("T")

app = typer.Typer(help="Mosaic: stories and the knowledge inside them.", no_args_is_help=True)
migrate_app = typer.Typer(help="Database migrations.", invoke_without_command=True)
tenants_app = typer.Typer(help="Tenants (operator commands, run as the database owner).")
api_keys_app = typer.Typer(help="API keys (operator commands, run as the database owner).")
app.add_typer(migrate_app, name="migrate")
app.add_typer(tenants_app, name="tenants")
keys_app = typer.Typer(help="Access-token signing keys (operator commands).")
app.add_typer(api_keys_app, name="api-keys")
app.add_typer(keys_app, name="keys")


def _settings() -> Settings:
    settings = get_settings()
    configure_logging(settings.observability)
    return settings


@app.command()
def version() -> None:
    """Print Mosaic's version."""
    typer.echo(__version__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Overrides MOSAIC_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides MOSAIC_PORT")] = None,
) -> None:
    """Migrate, then serve the API until SIGINT/SIGTERM (in-flight requests finish)."""
    import uvicorn

    from mosaic.app import create_app

    settings = _settings()
    try:
        with provision_database(settings.database, exclusive=True) as location:
            if settings.database.migrate_on_start:
                runner.upgrade(location.owner_url, settings.database)
            uvicorn.run(
                create_app(settings, location),
                host=host or settings.server.host,
                port=port or settings.server.port,
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=settings.server.graceful_shutdown_seconds,
                server_header=False,
            )
    except EmbeddedPostgresAlreadyRunning as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from None


@migrate_app.callback()
def migrate(
    ctx: typer.Context,
    revision: Annotated[str, typer.Option(help="Target revision")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: head)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings()
    with _location(settings) as location:
        runner.upgrade(location.owner_url, settings.database, revision)
    typer.echo(f"Database migrated to {revision}.")


@migrate_app.command("downgrade")
def migrate_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1")],
) -> None:
    """Revert migrations down to REVISION."""
    settings = _settings()
    with _location(settings) as location:
        runner.downgrade(location.owner_url, settings.database, revision)
    typer.echo(f"Database downgraded to {revision}.")


@migrate_app.command("current")
def migrate_current() -> None:
    """Show the database's current revision."""
    settings = _settings()
    with _location(settings) as location:
        runner.current(location.owner_url, settings.database)


@tenants_app.command("create")
def tenants_create(
    slug: Annotated[str, typer.Option(help="Short unique name, e.g. 'smith-family'")],
    name: Annotated[str, typer.Option(help="Display name")],
) -> None:
    """Create a tenant."""
    from mosaic.identity import service
    from mosaic.identity.schemas import TenantRead

    async def create(session: AsyncSession) -> TenantRead:
        return TenantRead.model_validate(await service.create_tenant(session, slug=slug, name=name))

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
        datetime | None,
        typer.Option(help="Expiry (ISO 8601 with a time zone)", formats=["%Y-%m-%dT%H:%M:%S%z"]),
    ] = None,
) -> None:
    """Create an API key for a tenant and print it once."""
    from mosaic.identity import service
    from mosaic.identity.schemas import KNOWN_SCOPES, ApiKeyCreate, ApiKeyCreated, ApiKeyRead

    data = ApiKeyCreate(name=name, scopes=scope or sorted(KNOWN_SCOPES), expires_at=expires_at)

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


def _location(settings: Settings) -> AbstractContextManager[DatabaseLocation]:
    return provision_database(settings.database, exclusive=False)


def _run_as_owner(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one owner transaction on a migrated database; exit 1 on a known error."""
    settings = _settings()
    try:
        with provision_database(settings.database, exclusive=False) as location:
            runner.upgrade(location.owner_url, settings.database)
            return asyncio.run(_in_owner_transaction(location, settings, work))
    except MosaicError as exc:
        typer.secho(f"{exc.code}: {exc.message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from None


async def _in_owner_transaction(
    location: DatabaseLocation, settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    engine = create_engine(location.owner_url, settings.database, application_name="mosaic-cli")
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


def main() -> None:
    app()
