"""``mosaic serve`` as a real process on a real embedded (or external) PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mosaic.core.embedded_postgres import running_postmaster
from tests.processes import (
    MOSAIC,
    create_tenant_with_key,
    embedded_owner_url,
    free_port,
    mosaic_env,
    postgres_processes,
    run_mosaic,
    scratch_app_role,
    scratch_dir,
    serving,
    wait_until_gone,
)


@pytest.fixture
def workdir() -> Iterator[Path]:
    with scratch_dir() as directory:
        yield directory


@pytest.fixture
def data_dir(workdir: Path) -> Path:
    return workdir / "data"


def assert_postgres_stopped(data_dir: Path) -> None:
    assert wait_until_gone(postgres_processes(data_dir), timeout=5) == []
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()


def unresolved_refs(document: dict[str, Any]) -> list[str]:
    """Every ``$ref`` in an OpenAPI document that points at nothing."""
    unresolved = []

    def resolve(pointer: str) -> bool:
        node: Any = document
        for part in pointer.removeprefix("#/").split("/"):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not resolve(ref):
                unresolved.append(ref)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return unresolved


def test_serve_defaults_to_embedded_postgres_in_dot_mosaic_and_stops_it_on_sigint(
    workdir: Path,
) -> None:
    default_data_dir = workdir / ".mosaic"
    with serving(None, cwd=workdir) as server:
        assert running_postmaster(default_data_dir) is not None

        docs = httpx.get(f"{server.base_url}/docs")
        assert docs.status_code == 200
        assert docs.headers["content-type"].startswith("text/html")
        assert "swagger-ui" in docs.text

        openapi = httpx.get(f"{server.base_url}/openapi.json").json()
        assert openapi["openapi"].startswith("3.")
        assert openapi["info"]["title"] == "Mosaic"
        assert "/api/v1/api-keys" in openapi["paths"]
        assert unresolved_refs(openapi) == []

        ready = httpx.get(f"{server.base_url}/health/ready")
        if ready.status_code != 404:  # the readiness probe lands with the health endpoints
            assert ready.status_code == 200, ready.text

        assert server.stop(signal.SIGINT) == 0, server.log()
    assert_postgres_stopped(default_data_dir)
    assert "Traceback" not in server.log()


def test_serve_reuses_the_data_across_restarts(workdir: Path, data_dir: Path) -> None:
    with serving(data_dir, cwd=workdir) as first:
        slug, key = create_tenant_with_key(embedded_owner_url(data_dir))
        assert first.stop() == 0, first.log()
    assert_postgres_stopped(data_dir)

    with serving(data_dir, cwd=workdir) as second:
        tenant = httpx.get(f"{second.base_url}/api/v1/tenant", headers={"X-API-Key": key})
        assert tenant.status_code == 200, tenant.text
        assert tenant.json()["slug"] == slug
        assert second.stop() == 0, second.log()
    assert_postgres_stopped(data_dir)


def test_a_second_serve_on_the_same_data_dir_fails_fast_and_leaves_the_first_alone(
    workdir: Path, data_dir: Path
) -> None:
    with serving(data_dir, cwd=workdir) as first:
        _, key = create_tenant_with_key(embedded_owner_url(data_dir))
        postmaster = running_postmaster(data_dir)

        started = time.monotonic()
        second = subprocess.run(
            [*MOSAIC, "serve"],
            env=mosaic_env(data_dir, MOSAIC_PORT=str(first.port + 1)),
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert second.returncode != 0
        assert time.monotonic() - started < 20
        assert "already using the embedded PostgreSQL" in second.stderr
        assert "Traceback" not in second.stderr
        assert running_postmaster(data_dir) == postmaster
        tenant = httpx.get(f"{first.base_url}/api/v1/tenant", headers={"X-API-Key": key})
        assert tenant.status_code == 200, tenant.text
        assert first.stop() == 0, first.log()
    assert_postgres_stopped(data_dir)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    body: dict[str, Any] = json.loads(await reader.readexactly(length))
    return status, body


def test_sigterm_lets_the_request_in_flight_finish_then_stops_postgres(
    workdir: Path, data_dir: Path
) -> None:
    with serving(data_dir, cwd=workdir) as server:
        _, key = create_tenant_with_key(embedded_owner_url(data_dir))
        body = json.dumps({"name": "created while stopping", "scopes": ["tenant:read"]}).encode()

        async def slow_request() -> tuple[int, dict[str, Any]]:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(
                b"POST /api/v1/api-keys HTTP/1.1\r\n"
                + f"Host: 127.0.0.1:{server.port}\r\n".encode()
                + b"Content-Type: application/json\r\n"
                + f"X-API-Key: {key}\r\n".encode()
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body[:10]
            )
            await writer.drain()
            # Time for the server to parse the headers and start the handler, which then
            # waits for the body; a SIGTERM before that would find an idle connection.
            await asyncio.sleep(1.5)

            server.process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(server.wait_for_log, "Shutting down", 30)
            # The server no longer accepts connections, but still serves the one in flight.
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", server.port), timeout=2).close()

            writer.write(body[10:])
            await writer.drain()
            try:
                return await asyncio.wait_for(_read_response(reader), timeout=30)
            finally:
                writer.close()

        status, created = asyncio.run(slow_request())

        assert status == 201, created
        assert created["name"] == "created while stopping"
        assert created["key"]
        assert server.process.wait(timeout=60) == 0, server.log()
    assert_postgres_stopped(data_dir)


def _postmaster_is_up(data_dir: Path) -> bool:
    return running_postmaster(data_dir) is not None


def _initdb_is_running(data_dir: Path) -> bool:
    return (data_dir / "pgdata" / "PG_VERSION").exists()


@pytest.mark.parametrize("moment", [_initdb_is_running, _postmaster_is_up])
def test_sigterm_while_starting_stops_postgres_and_leaves_a_usable_cluster(
    workdir: Path, data_dir: Path, moment: Callable[[Path], bool]
) -> None:
    log_path = workdir / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*MOSAIC, "serve"],
            env=mosaic_env(data_dir, MOSAIC_PORT=str(free_port())),
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not moment(data_dir):
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
    assert_postgres_stopped(data_dir)

    migrated = run_mosaic("migrate", "current", env=mosaic_env(data_dir), cwd=workdir)
    assert migrated.returncode == 0, migrated.stderr
    assert_postgres_stopped(data_dir)


@pytest.mark.external_postgres
def test_serve_uses_database_url_instead_of_embedded_postgres(
    workdir: Path, data_dir: Path, fresh_external_database: str
) -> None:
    with scratch_app_role(fresh_external_database) as role:
        env = mosaic_env(
            data_dir, DATABASE_URL=fresh_external_database, MOSAIC_DATABASE_APP_ROLE=role
        )
        with serving(data_dir, cwd=workdir, env=env) as server:
            _, key = create_tenant_with_key(fresh_external_database)
            tenant = httpx.get(f"{server.base_url}/api/v1/tenant", headers={"X-API-Key": key})
            assert tenant.status_code == 200, tenant.text
            assert server.stop() == 0, server.log()
    assert not data_dir.exists()
