"""A real ``mosaic serve`` in a subprocess, on its own data directory and a free port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.options import REPOSITORY_ROOT

MOSAIC = Path(sys.executable).parent / "mosaic"
STARTUP_TIMEOUT_SECONDS = 180.0
TENANT_SLUG = "bench"
BARE_APP_CONFIG_VARIABLE = "MOSAIC_BENCH_BARE_APP"


@dataclass(frozen=True)
class Postmaster:
    """The embedded PostgreSQL the server started: its pid and its Unix socket directory."""

    pid: int
    socket_dir: str

    @classmethod
    def read(cls, pgdata: Path) -> Postmaster:
        """Read ``postmaster.pid``: line 1 is the pid, line 5 the socket directory."""
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        return cls(pid=int(lines[0]), socket_dir=lines[4].strip())


@dataclass(frozen=True)
class ApiKey:
    """An API key created through the CLI: its id (a readable row) and the secret."""

    id: str
    prefix: str
    key: str


@dataclass(frozen=True)
class RunningServer:
    """What a benchmark needs to know about the server it is measuring."""

    base_url: str
    pid: int
    data_dir: Path
    environment: dict[str, str]

    @property
    def postmaster(self) -> Postmaster:
        return Postmaster.read(self.data_dir.resolve() / "pgdata")

    def create_api_key(self) -> ApiKey:
        """Create a tenant and a read-only key for it, as an operator would (through the CLI)."""
        self._cli("tenants", "create", "--slug", TENANT_SLUG, "--name", "Benchmark")
        created = json.loads(
            self._cli(
                "api-keys",
                "create",
                "--tenant",
                TENANT_SLUG,
                "--name",
                "benchmark",
                "--scope",
                "api-keys:read",
            )
        )
        return ApiKey(id=created["id"], prefix=created["prefix"], key=created["key"])

    def answers(self, path: str, headers: dict[str, str] | None = None) -> bool:
        """Whether ``path`` answers 200 (used to pick targets and to fail fast)."""
        response = httpx.get(self.base_url + path, headers=headers, timeout=10)
        return response.status_code == 200

    def _cli(self, *arguments: str) -> str:
        completed = subprocess.run(
            [str(MOSAIC), *arguments],
            env=self.environment,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"mosaic {' '.join(arguments[:2])} failed: {completed.stderr}")
        return completed.stdout


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path | None) -> None:
    """Block until ``process`` accepts TCP connections on ``port``; raise if it dies first."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text()[-4000:] if log is not None and log.exists() else ""
            raise RuntimeError(f"the server exited with {process.returncode}:\n{tail}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listened on port {port} after {STARTUP_TIMEOUT_SECONDS:.0f} s")


def stop(
    process: subprocess.Popen[bytes],
    *,
    grace_seconds: float = 30.0,
    stop_signal: signal.Signals = signal.SIGINT,
) -> None:
    """Send ``stop_signal`` (SIGINT: Mosaic shuts down gracefully, PostgreSQL too), then kill."""
    if process.poll() is not None:
        return
    process.send_signal(stop_signal)
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


_NOT_INHERITED = frozenset(
    {
        "DATABASE_URL",
        "MOSAIC_DATABASE_URL",
        "MOSAIC_DATA_DIR",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "MOSAIC_OTEL_EXPORTER_OTLP_ENDPOINT",
    }
)


def _environment(data_dir: Path, port: int) -> dict[str, str]:
    # Always the embedded cluster in a fresh directory (never a developer's own database),
    # and no trace exporter a developer may have configured: the default setup is measured.
    inherited = {name: value for name, value in os.environ.items() if name not in _NOT_INHERITED}
    return {
        **inherited,
        "MOSAIC_DATA_DIR": str(data_dir),
        "MOSAIC_ENV": "development",
        "MOSAIC_PORT": str(port),
        "MOSAIC_HOST": "127.0.0.1",
        # Logging below WARNING would put a JSON line per request on the measured path.
        "MOSAIC_LOG_LEVEL": "WARNING",
        "MOSAIC_GRACEFUL_SHUTDOWN_SECONDS": "5",
    }


@contextmanager
def mosaic_server(settings: Mapping[str, str] | None = None) -> Iterator[RunningServer]:
    """Start ``mosaic serve`` (it migrates first) and stop it, and its PostgreSQL, afterwards.

    ``settings`` are extra ``MOSAIC_*`` variables a benchmark needs (they are named in its
    report)."""
    with tempfile.TemporaryDirectory(prefix="mosaic-bench-") as scratch:
        data_dir = Path(scratch) / "data"
        log = Path(scratch) / "server.log"
        port = free_port()
        environment = {**_environment(data_dir, port), **(settings or {})}
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                [str(MOSAIC), "serve"],
                env=environment,
                cwd=REPOSITORY_ROOT,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_for_port(port, process, log)
                yield RunningServer(
                    base_url=f"http://127.0.0.1:{port}",
                    pid=process.pid,
                    data_dir=data_dir,
                    environment=environment,
                )
            finally:
                stop(process)


@dataclass(frozen=True)
class BareApp:
    """``bench.bare_app`` running: its supervisor's pid and its URL."""

    pid: int
    base_url: str


@contextmanager
def bare_app(config: str, *, workers: int) -> Iterator[BareApp]:
    """Serve ``bench.bare_app`` with ``workers`` uvicorn workers, configured by ``config``."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_app", "--port", str(port), "--workers", str(workers)],
        env={**os.environ, BARE_APP_CONFIG_VARIABLE: config},
        cwd=REPOSITORY_ROOT,
    )
    try:
        wait_for_port(port, process, log=None)
        yield BareApp(pid=process.pid, base_url=f"http://127.0.0.1:{port}")
    finally:
        stop(process, grace_seconds=10, stop_signal=signal.SIGTERM)
