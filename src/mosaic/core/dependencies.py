"""Request-scoped dependencies of the platform kit, each declared once as an ``Annotated`` alias.

Every dependency is ``async def``, even when it awaits nothing: FastAPI runs a plain ``def``
dependency in a worker thread, a hop that cost more than the rest of a simple request.

The dependencies every request resolves (the session, authentication, the subject) read the
application's state with :func:`app_database` and :func:`app_settings` instead of declaring
``DatabaseDep`` or ``SettingsDep``: FastAPI walks a dependency's whole sub-tree at every place
it is declared, even when its value is cached, and these are declared several times a request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from mosaic.core.database import Database
from mosaic.core.settings import Settings


def app_database(request: HTTPConnection) -> Database:
    """The application's database (connection pool and sessions)."""
    database: Database = request.app.state.database
    return database


def app_settings(request: HTTPConnection) -> Settings:
    """The application's settings."""
    settings: Settings = request.app.state.settings
    return settings


async def _database(request: Request) -> Database:
    return app_database(request)


async def _settings(request: Request) -> Settings:
    return app_settings(request)


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent.

    Declared with ``scope="function"`` so the commit happens after the handler returns but
    before the response leaves: a failed commit becomes an error response, never a 201
    for data that was not stored.
    """
    async with app_database(request).sessionmaker() as session, session.begin():
        yield session


DatabaseDep = Annotated[Database, Depends(_database)]
SettingsDep = Annotated[Settings, Depends(_settings)]
RequestSession = Annotated[AsyncSession, Depends(_request_session, scope="function")]
