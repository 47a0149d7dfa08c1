"""Request-scoped dependencies of the platform kit, each declared once as an ``Annotated`` alias.

Every dependency is ``async def``, even when it awaits nothing: FastAPI runs a plain ``def``
dependency in a worker thread, a hop that cost more than the rest of a simple request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.database import Database
from mosaic.core.settings import Settings


async def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _request_session(
    database: Annotated[Database, Depends(_database)],
) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent.

    Declared with ``scope="function"`` so the commit happens after the handler returns but
    before the response leaves: a failed commit becomes an error response, never a 201
    for data that was not stored.
    """
    async with database.sessionmaker() as session, session.begin():
        yield session


DatabaseDep = Annotated[Database, Depends(_database)]
SettingsDep = Annotated[Settings, Depends(_settings)]
RequestSession = Annotated[AsyncSession, Depends(_request_session, scope="function")]
