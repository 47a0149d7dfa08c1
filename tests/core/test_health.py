"""Liveness and readiness probes, and what the API answers while its database is down.

Outages are played on a private embedded cluster (the session's one is shared by every test):
its postgres process is stopped and started again under a running app.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text

from mosaic.app import create_app
from mosaic.core.database import DatabaseLocation, create_engine, create_sessionmaker
from mosaic.core.database_errors import RETRY_AFTER_SECONDS
from mosaic.core.embedded_postgres import EmbeddedPostgres
from mosaic.core.settings import DatabaseSettings, Settings
from mosaic.identity import service
from mosaic.identity.schemas import KNOWN_SCOPES, ApiKeyCreate
from mosaic.migrations import runner
from tests.conftest import TenantFactory


@pytest.fixture(scope="module")
def outage_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    cluster = EmbeddedPostgres(tmp_path_factory.mktemp("outage-postgres"))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def outage_location(
    outage_cluster: EmbeddedPostgres, database_settings: DatabaseSettings
) -> DatabaseLocation:
    location = DatabaseLocation.for_owner(outage_cluster.url(), database_settings)
    runner.upgrade(location.owner_url, database_settings)
    return location


@pytest.fixture
async def outage_app(
    settings: Settings, outage_location: DatabaseLocation
) -> AsyncIterator[FastAPI]:
    application = create_app(settings, outage_location)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def outage_client(outage_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=outage_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


class Outage:
    """Stops the private cluster's postgres; always started again when the test ends."""

    def __init__(self, cluster: EmbeddedPostgres) -> None:
        self.cluster = cluster
        self.down = False

    async def begin(self) -> None:
        await asyncio.to_thread(self.cluster.stop_server)
        self.down = True

    async def end(self) -> None:
        await asyncio.to_thread(self.cluster.start_server)
        self.down = False


@pytest.fixture
async def outage(outage_cluster: EmbeddedPostgres) -> AsyncIterator[Outage]:
    control = Outage(outage_cluster)
    yield control
    if control.down:
        await control.end()


async def _api_key_on(location: DatabaseLocation, settings: DatabaseSettings) -> str:
    engine = create_engine(location.owner_url, settings, application_name="mosaic-tests")
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            tenant = await service.create_tenant(session, slug="outage", name="Outage")
            _, key = await service.create_api_key(
                session,
                tenant_id=tenant.id,
                data=ApiKeyCreate(name="test key", scopes=sorted(KNOWN_SCOPES)),
                granted_by=None,
            )
    finally:
        await engine.dispose()
    return key


@pytest.fixture(scope="module")
async def outage_api_key(
    outage_location: DatabaseLocation, database_settings: DatabaseSettings
) -> str:
    return await _api_key_on(outage_location, database_settings)


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["request_id"] == response.headers["X-Request-ID"]
    # Neither the SQL nor the driver's internals reach the client.
    assert "SELECT" not in response.text
    assert "asyncpg" not in response.text


async def test_live_answers_without_touching_the_database(
    outage_client: httpx.AsyncClient, outage: Outage
) -> None:
    await outage.begin()

    response = await outage_client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "live"}


async def test_ready_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


async def test_ready_is_503_in_the_envelope_while_the_database_is_down(
    outage_client: httpx.AsyncClient, outage: Outage
) -> None:
    assert (await outage_client.get("/health/ready")).status_code == 200
    await outage.begin()

    response = await outage_client.get("/health/ready")

    _assert_unavailable(response)
    assert response.json()["error"]["details"] == {"checks": {"database": "unavailable"}}


async def test_ready_again_when_the_database_is_back(
    outage_client: httpx.AsyncClient, outage: Outage
) -> None:
    await outage.begin()
    assert (await outage_client.get("/health/ready")).status_code == 503

    await outage.end()
    response = await outage_client.get("/health/ready")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok"}


async def test_first_probe_after_a_restart_is_ready_despite_stale_pooled_connections(
    outage_client: httpx.AsyncClient, outage: Outage
) -> None:
    # The pool keeps the connection the first probe used; the restart kills it server-side.
    assert (await outage_client.get("/health/ready")).status_code == 200
    await outage.begin()
    await outage.end()

    response = await outage_client.get("/health/ready")

    assert response.status_code == 200


async def test_api_request_during_an_outage_is_503_with_retry_after(
    outage_client: httpx.AsyncClient, outage: Outage, outage_api_key: str
) -> None:
    headers = {"X-API-Key": outage_api_key}
    assert (await outage_client.get("/api/v1/tenant", headers=headers)).status_code == 200
    await outage.begin()

    # First on the pooled connection the server dropped, then on a connect that fails.
    dropped = await outage_client.get("/api/v1/tenant", headers=headers)
    refused = await outage_client.get("/api/v1/tenant", headers=headers)

    _assert_unavailable(dropped)
    _assert_unavailable(refused)


async def test_api_serves_again_after_the_outage(
    outage_client: httpx.AsyncClient, outage: Outage, outage_api_key: str
) -> None:
    headers = {"X-API-Key": outage_api_key}
    await outage.begin()
    _assert_unavailable(await outage_client.get("/api/v1/tenant", headers=headers))

    await outage.end()
    response = await outage_client.get("/api/v1/tenant", headers=headers)

    assert response.status_code == 200
    assert response.json()["slug"] == "outage"


async def test_exhausted_pool_is_503_with_retry_after(
    settings: Settings, location: DatabaseLocation, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant()
    tight = settings.model_copy(
        update={
            "database": settings.database.model_copy(
                update={"pool_size": 1, "pool_max_overflow": 0, "pool_timeout_seconds": 0.2}
            )
        }
    )
    application = create_app(tight, location)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
            application.state.database.engine.connect(),  # holds the only connection
        ):
            response = await client.get("/api/v1/tenant", headers=tenant.headers)

    _assert_unavailable(response)


def _app_with_route(
    settings: Settings, location: DatabaseLocation, raise_: type[BaseException] | None
) -> FastAPI:
    application = create_app(settings, location)

    @application.get("/test/boom")
    async def boom() -> None:
        if raise_ is not None:
            raise raise_("disk full")
        async with application.state.database.engine.connect() as connection:
            await connection.execute(text("SELECT 1 / 0"))

    return application


@pytest.mark.parametrize(
    "raise_", [None, OSError], ids=["query-error", "oserror-outside-the-driver"]
)
async def test_errors_that_are_not_outages_stay_500(
    settings: Settings, location: DatabaseLocation, raise_: type[BaseException] | None
) -> None:
    application = _app_with_route(settings, location, raise_)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/test/boom")

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"
    assert "Retry-After" not in response.headers
