"""``mosaic`` as a real process: environments, free ports, readiness, and no postgres left over."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import httpx
import psutil  # type: ignore[import-untyped]  # pgserver's dependency; it ships no types
from sqlalchemy.engine import URL

from mosaic.core.database import DatabaseLocation, create_engine, create_sessionmaker
from mosaic.core.embedded_postgres import running_postmaster
from mosaic.core.settings import DatabaseSettings
from mosaic.identity import service
from mosaic.identity.schemas import KNOWN_SCOPES, ApiKeyCreate

MOSAIC = (sys.executable, "-m", "mosaic")
START_TIMEOUT_SECONDS = 60.0


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def mosaic_env(data_dir: Path | None, **variables: str) -> dict[str, str]:
    """This process's environment without any Mosaic setting, plus ``variables``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("MOSAIC_") and name != "DATABASE_URL"
    }
    if data_dir is not None:
        env["MOSAIC_DATA_DIR"] = str(data_dir)
    env.update(variables)
    return env


def run_mosaic(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """Run one ``mosaic`` command to completion."""
    return subprocess.run(
        [*MOSAIC, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    """Every postgres process (postmaster and backends) serving the cluster in ``data_dir``."""
    pgdata = str(data_dir.resolve() / "pgdata")
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and pgdata in cmdline:
            found.append(process)
    return found


def wait_until_gone(processes: list[psutil.Process], timeout: float = 10) -> list[psutil.Process]:
    """The processes still alive after ``timeout`` seconds."""
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return list(alive)


@contextmanager
def no_postgres_left(data_dir: Path) -> Iterator[None]:
    """Kill whatever postgres a failing test left running for ``data_dir``."""
    try:
        yield
    finally:
        leftovers = postgres_processes(data_dir)
        for process in leftovers:
            with suppress(psutil.Error):
                process.kill()
        wait_until_gone(leftovers, timeout=5)


@contextmanager
def scratch_dir() -> Iterator[Path]:
    """An empty directory for a cluster's data, removed afterwards with any postgres left in it.

    Not pytest's ``tmp_path``: as root, pgserver runs postgres as another user and opens the
    path up for it, but every pytest session (a concurrent one too) resets its temporary root
    to mode 0700, locking that user out of a running cluster.
    """
    directory = Path(tempfile.mkdtemp(prefix="mosaic-test-"))
    try:
        with no_postgres_left(directory / "data"), no_postgres_left(directory / ".mosaic"):
            yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class MosaicServer:
    """A ``mosaic serve`` subprocess and where it listens."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Poll ``/openapi.json`` until it answers; fail with the log if the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"mosaic serve exited with {self.process.returncode}:\n{self.log()}"
                )
            with suppress(httpx.TransportError):
                if httpx.get(f"{self.base_url}/openapi.json", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"mosaic serve was not ready within {timeout} s:\n{self.log()}")

    def wait_for_log(self, text: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared in the log:\n{self.log()}")
            time.sleep(0.05)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60) -> int:
        """Send ``sig`` and return the exit code."""
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


@contextmanager
def serving(
    data_dir: Path | None, *, cwd: Path, env: dict[str, str] | None = None
) -> Iterator[MosaicServer]:
    """``mosaic serve`` on a free port, ready; killed on the way out if still running."""
    port = free_port()
    environment = env if env is not None else mosaic_env(data_dir)
    environment["MOSAIC_PORT"] = str(port)
    log_path = cwd / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*MOSAIC, "serve"], env=environment, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
        )
    server = MosaicServer(process=process, port=port, log_path=log_path)
    try:
        server.wait_ready()
        yield server
    finally:
        if process.poll() is None:
            # With several HTTP workers the server has children: kill them with it.
            children = psutil.Process(process.pid).children(recursive=True)
            process.kill()
            process.wait(timeout=10)
            for child in children:
                with suppress(psutil.Error):
                    child.kill()
            wait_until_gone(children, timeout=10)


def embedded_owner_url(data_dir: Path) -> URL:
    """The owner URL of the embedded cluster a ``mosaic`` process runs under ``data_dir``."""
    postmaster = running_postmaster(data_dir)
    assert postmaster is not None
    assert postmaster.socket_dir is not None
    return URL.create(
        "postgresql+asyncpg",
        username="postgres",
        database="mosaic",
        query={"host": str(postmaster.socket_dir)},
    )


def create_tenant_with_key(owner_url: str | URL) -> tuple[str, str]:
    """A new tenant (slug) and an all-scopes API key for it, written as the database owner."""
    settings = DatabaseSettings(pool_size=1, pool_max_overflow=0)
    location = DatabaseLocation.for_owner(owner_url, settings)

    async def create() -> tuple[str, str]:
        engine = create_engine(location.owner_url, settings, application_name="mosaic-tests")
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                slug = f"t-{uuid4().hex[:12]}"
                tenant = await service.create_tenant(session, slug=slug, name=slug)
                _, key = await service.create_api_key(
                    session,
                    tenant_id=tenant.id,
                    data=ApiKeyCreate(name="process test", scopes=sorted(KNOWN_SCOPES)),
                    granted_by=None,
                )
        finally:
            await engine.dispose()
        return slug, key

    return asyncio.run(create())


@contextmanager
def scratch_app_role(database_url: str) -> Iterator[str]:
    """A unique application role name, dropped (with its grants in ``database_url``) afterwards.

    Roles are cluster-wide: a shared server must not collect one per test run.
    """
    import asyncpg

    role = f"mosaic_app_{uuid4().hex[:10]}"
    try:
        yield role
    finally:

        async def drop() -> None:
            connection = await asyncpg.connect(database_url)
            try:
                exists = await connection.fetchval(
                    "SELECT 1 FROM pg_roles WHERE rolname = $1", role
                )
                if exists:
                    await connection.execute(f"DROP OWNED BY {role}")
                    await connection.execute(f"DROP ROLE {role}")
            finally:
                await connection.close()

        asyncio.run(drop())
