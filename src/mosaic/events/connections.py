"""Direct asyncpg connections for the relay and the PostgreSQL bus, as the database owner.

They bypass SQLAlchemy on purpose: a LISTEN connection lives for the whole process, and the
bus's hot path is three statements that gain nothing from the ORM.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog
from sqlalchemy.engine import URL

logger = structlog.get_logger(__name__)

# What a dropped or restarting server raises; the relay and the bus retry on these.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


def connect_kwargs(url: URL, *, application_name: str) -> dict[str, Any]:
    """asyncpg's ``connect`` arguments for a SQLAlchemy URL (TCP or a Unix socket directory)."""
    host = url.host or url.query.get("host")
    return {
        "host": host if isinstance(host, str) else None,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "database": url.database,
        "server_settings": {"application_name": application_name},
    }


class Listener:
    """One LISTEN connection that calls ``on_notify(payload)``, reconnecting when it drops.

    A notification is a hint, never the only path: whoever listens also polls, so a wake-up
    lost while reconnecting only delays work until the next poll.
    """

    def __init__(
        self,
        url: URL,
        channel: str,
        on_notify: Callable[[str], None],
        *,
        application_name: str,
    ) -> None:
        self._kwargs = connect_kwargs(url, application_name=application_name)
        self._channel = channel
        self._on_notify = on_notify
        self._connection: asyncpg.Connection | None = None

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed()

    async def ensure(self) -> None:
        """(Re)connect and LISTEN if the connection is gone; raises if the server is down."""
        if self.connected:
            return
        connection = await asyncpg.connect(**self._kwargs, timeout=10)
        await connection.add_listener(self._channel, self._notified)
        # A dropped connection wakes the listener's owner, who then reconnects.
        connection.add_termination_listener(lambda _: self._on_notify(""))
        self._connection = connection
        # Anything committed while the listener was away would otherwise wait for a poll.
        self._on_notify("")

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self._on_notify(payload)

    async def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(*CONNECTION_ERRORS):
                await self._connection.close(timeout=5)
            self._connection = None
