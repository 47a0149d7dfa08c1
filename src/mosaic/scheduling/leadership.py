"""Exactly one leader: a PostgreSQL session-level advisory lock on a dedicated connection.

The lock lives as long as the connection does. The connection is not pooled (``NullPool``):
returning it to a pool would keep the lock on a connection nobody watches. When the leader
process dies, or its connection breaks, PostgreSQL ends the session and releases the lock, and
the next follower to ask takes it.
"""

from __future__ import annotations

import hashlib

import structlog
from sqlalchemy import func, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

logger = structlog.get_logger(__name__)

# A fixed 64-bit key, derived from a name so that it will not collide with another use.
LEADER_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"mosaic.scheduler.leader").digest()[:8], "big", signed=True
)
_CONNECTION_ERRORS = (DBAPIError, InterfaceError, OSError, TimeoutError)


class LeaderLock:
    """The leader lock while held; :meth:`acquire` returns one only to the process that won."""

    def __init__(self, engine: AsyncEngine, connection: AsyncConnection) -> None:
        self._engine = engine
        self._connection = connection

    @classmethod
    async def acquire(cls, url: URL, *, key: int = LEADER_LOCK_KEY) -> LeaderLock | None:
        """Try once, without waiting: the lock, or None while another process holds it."""
        engine = create_async_engine(
            url,
            poolclass=NullPool,
            connect_args={"server_settings": {"application_name": "mosaic-scheduler-leader"}},
        )
        try:
            connection = await engine.connect()
        except BaseException:
            await engine.dispose()
            raise
        try:
            # Autocommit: the connection must never sit idle inside a transaction for hours.
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            won = (await connection.execute(select(func.pg_try_advisory_lock(key)))).scalar()
        except BaseException:
            await connection.close()
            await engine.dispose()
            raise
        if not won:
            await connection.close()
            await engine.dispose()
            return None
        return cls(engine, connection)

    async def held(self) -> bool:
        """Whether the lock's connection is still alive (and so the lock still held)."""
        try:
            await self._connection.execute(select(1))
        except _CONNECTION_ERRORS as exc:
            logger.warning("scheduler_leader_connection_lost", error=type(exc).__name__)
            return False
        return True

    async def release(self) -> None:
        """Give the lock up by closing its session (which releases every lock it holds)."""
        try:
            await self._connection.close()
        except _CONNECTION_ERRORS:
            pass  # a broken connection has already released the lock with its session
        finally:
            await self._engine.dispose()
