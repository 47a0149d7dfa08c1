"""Engines, sessions and the one place where a transaction is bound to a tenant."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from mosaic.core.settings import DatabaseSettings

TENANT_SETTING = "mosaic.tenant_id"


def async_url(url: str | URL) -> URL:
    """Normalise a ``postgres://`` / ``postgresql://`` URL to the asyncpg dialect."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in {"postgres", "postgresql", "postgresql+psycopg", "postgresql+asyncpg"}:
        return parsed.set(drivername="postgresql+asyncpg")
    raise ValueError(f"Unsupported database URL scheme {parsed.drivername!r}: use postgresql://")


@dataclass(frozen=True)
class DatabaseLocation:
    """Where the database is: the owner's URL (migrations) and the application role's URL."""

    owner_url: URL
    app_url: URL

    @classmethod
    def for_owner(cls, owner_url: str | URL, settings: DatabaseSettings) -> DatabaseLocation:
        owner = async_url(owner_url)
        password = settings.app_password.get_secret_value() if settings.app_password else None
        return cls(
            owner_url=owner, app_url=owner.set(username=settings.app_role, password=password)
        )


def create_engine(url: URL, settings: DatabaseSettings, *, application_name: str) -> AsyncEngine:
    """An asyncpg engine with a bounded pool and a server-side statement timeout."""
    server_settings = {"application_name": application_name}
    if settings.statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.statement_timeout_ms)
    engine = create_async_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_max_overflow,
        pool_timeout=settings.pool_timeout_seconds,
        pool_recycle=1800,
        # Statement parameters (passwords, tokens, personal data) never reach error messages,
        # logs or trace spans.
        hide_parameters=True,
        connect_args={"server_settings": server_settings},
    )
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def bind_tenant(session: AsyncSession, tenant_id: UUID) -> None:
    """Scope the session's current transaction to one tenant (row-level security).

    ``set_config(..., is_local => true)`` lasts until the transaction ends, so a pooled
    connection never carries one request's tenant into the next.
    """
    await session.execute(_BIND_TENANT, {"tenant_id": str(tenant_id)})


# Built once: every request runs it, and a statement built per call would rebuild its bound
# parameters and SQLAlchemy cache key each time.
_BIND_TENANT = select(func.set_config(TENANT_SETTING, bindparam("tenant_id"), True))


@dataclass
class Database:
    """The application's connection pool (as the application role) and its session factory."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    @classmethod
    def connect(cls, location: DatabaseLocation, settings: DatabaseSettings) -> Database:
        engine = create_engine(location.app_url, settings, application_name="mosaic-api")
        return cls(engine=engine, sessionmaker=create_sessionmaker(engine))

    async def ping(self) -> None:
        """Round-trip to the server; raises if it cannot be reached."""
        async with self.engine.connect() as connection:
            await connection.execute(select(1))

    async def dispose(self) -> None:
        await self.engine.dispose()
