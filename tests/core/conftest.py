"""Fixtures for the platform kit: a tenant ready to call the API, bulk keys for paging, and an
app with test-only routes that fail in ways the real routes never should."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from uuid import UUID

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.app import create_app
from mosaic.core.database import DatabaseLocation
from mosaic.core.settings import Settings
from mosaic.identity import service
from mosaic.identity.schemas import ApiKeyCreate
from tests.conftest import TenantFactory, TenantWithKey

KeysFactory = Callable[[TenantWithKey, int], Awaitable[list[UUID]]]


class DeliberateFailure(RuntimeError):
    """What the test-only route raises: a bug nobody handled."""


@pytest.fixture
async def tenant(make_tenant: TenantFactory) -> TenantWithKey:
    return await make_tenant()


@pytest.fixture
def make_api_keys(owner_sessions: async_sessionmaker[AsyncSession]) -> KeysFactory:
    """Add ``count`` keys to a tenant directly in the database; returns their ids."""

    async def make(tenant: TenantWithKey, count: int) -> list[UUID]:
        async with owner_sessions() as session, session.begin():
            ids = []
            for number in range(count):
                key, _ = await service.create_api_key(
                    session,
                    tenant_id=tenant.id,
                    data=ApiKeyCreate(name=f"key {number}", scopes=["tenant:read"]),
                    granted_by=None,
                )
                ids.append(key.id)
        return ids

    return make


@pytest.fixture(scope="session")
def app_with_faulty_routes(settings: Settings, location: DatabaseLocation) -> FastAPI:
    """The real app (middleware, handlers) plus routes that misbehave on purpose."""
    application = create_app(settings, location)

    @application.get("/test-only/boom")
    async def boom() -> None:
        raise DeliberateFailure("secret internals: /srv/mosaic/app.py line 42")

    @application.post("/test-only/swallow-body-errors")
    async def swallow_body_errors(request: Request) -> JSONResponse:
        # A handler that turns any failure to read the body into its own 400.
        try:
            body = await request.body()
        except Exception:
            return JSONResponse({"detail": "could not read the body"}, status_code=400)
        return JSONResponse({"received": len(body)})

    return application


@pytest.fixture
async def faulty_client(app_with_faulty_routes: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: Starlette re-raises after sending the 500 (so servers can log
    # it); the client should see what a real caller sees, the response.
    transport = httpx.ASGITransport(app=app_with_faulty_routes, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


class _SignalFreeServer(uvicorn.Server):
    """A uvicorn that leaves SIGINT and SIGTERM alone.

    ``Server.serve`` captures both for as long as it runs; for a server living through the
    whole test session that would swallow Ctrl-C and a plain ``kill`` of pytest.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@pytest.fixture(scope="session")
async def live_server(app: FastAPI) -> AsyncIterator[str]:
    """The app behind a real uvicorn on a loopback port: real sockets, real chunked bodies."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    # lifespan="off": the session's app has already been started by the ``app`` fixture.
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    server = _SignalFreeServer(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        if serving.done():
            serving.result()  # raises why it could not start
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving
    listener.close()


@pytest.fixture
async def live_client(live_server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as client:
        yield client
