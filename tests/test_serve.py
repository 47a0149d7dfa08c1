"""``mosaic serve`` as a real process on a real embedded (or external) PostgreSQL."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]  # pgserver's dependency; it ships no types
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.engine import URL

from mosaic.core.database import create_engine
from mosaic.core.embedded_postgres import running_postmaster
from mosaic.core.settings import DatabaseSettings
from mosaic.models import EventAuditEntry
from mosaic.serve import frozen_after_startup, signals_received_during
from tests.processes import (
    MOSAIC,
    MosaicServer,
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


@pytest.mark.parametrize(
    ("workers", "refusal"),
    [("0", "greater than or equal to 1"), ("65", "less than or equal to 64")],
)
def test_serve_refuses_a_number_of_workers_outside_1_to_64(
    workdir: Path, workers: str, refusal: str
) -> None:
    refused = run_mosaic("serve", "--workers", workers, env=mosaic_env(workdir / "data"))

    assert refused.returncode == 2
    assert "Invalid value for '--workers'" in refused.stderr
    assert refusal in refused.stderr
    assert not (workdir / "data").exists()


def test_signals_received_during_tells_a_stop_signal_from_none() -> None:
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        quiet = signals_received_during(lambda: None)
        signalled = signals_received_during(lambda: os.kill(os.getpid(), signal.SIGTERM))
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert quiet == set()
    assert signalled == {signal.SIGTERM}


# --- Several HTTP worker processes (MOSAIC_WEB_CONCURRENCY) -----------------------------------
# One server for the tests below (a start costs seconds on a fresh data directory); they run in
# file order, and the last one stops it.


@dataclass(frozen=True)
class MultiProcessServer:
    server: MosaicServer
    data_dir: Path

    def http_workers(self) -> list[psutil.Process]:
        """The children holding the listening socket uvicorn's supervisor shares with them."""
        return [child for child, listens, _ in self._children() if listens]

    def background(self) -> list[psutil.Process]:
        """The other spawned children (not multiprocessing's resource tracker)."""
        return [
            child
            for child, listens, command in self._children()
            if "spawn_main" in command and not listens
        ]

    def _children(self) -> Iterator[tuple[psutil.Process, bool, str]]:
        """Each live child, whether it listens on the server's port, and its command line."""
        for child in psutil.Process(self.server.process.pid).children():
            # A killed child stays a zombie until the supervisor reaps it, or is already gone.
            with suppress(psutil.Error):
                if child.status() == psutil.STATUS_ZOMBIE:
                    continue
                listens = any(
                    connection.status == psutil.CONN_LISTEN
                    and connection.laddr.port == self.server.port
                    for connection in child.net_connections("tcp")
                )
                yield child, listens, " ".join(child.cmdline())


@pytest.fixture(scope="module")
def two_workers() -> Iterator[MultiProcessServer]:
    with scratch_dir() as workdir:
        data_dir = workdir / "data"
        env = mosaic_env(data_dir, MOSAIC_WEB_CONCURRENCY="2")
        with serving(data_dir, cwd=workdir, env=env) as server:
            yield MultiProcessServer(server=server, data_dir=data_dir)


def _wait_for(condition: Callable[[], bool], *, timeout: float, log: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, log()
        time.sleep(0.2)


async def _answering_pids(
    multi: MultiProcessServer,
    *,
    connections: int,
    path: str = "/health/ready",
    expected_status: int = 200,
) -> tuple[set[int], int]:
    """Open connections one by one, each asking for ``path``, until two workers have
    answered: the pids that answered, and how many requests it took."""
    workers = multi.http_workers()
    opened: list[asyncio.StreamWriter] = []
    answered: set[int] = set()
    try:
        for _ in range(connections):
            reader, writer = await asyncio.open_connection("127.0.0.1", multi.server.port)
            opened.append(writer)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            await writer.drain()
            status, body = await asyncio.wait_for(_read_response(reader), timeout=10)
            assert status == expected_status, body
            # The connection is still open (keep-alive): the worker holding its other end
            # is the one that answered.
            client_port = writer.get_extra_info("sockname")[1]
            answered |= {
                worker.pid
                for worker in workers
                for connection in worker.net_connections("tcp")
                if connection.raddr and connection.raddr.port == client_port
            }
            if len(answered) >= 2:
                break
    finally:
        for writer in opened:
            writer.close()
    return answered, len(opened)


def test_two_http_workers_answer_beside_one_background_process(
    two_workers: MultiProcessServer,
) -> None:
    ready = httpx.get(f"{two_workers.server.base_url}/health/ready")
    assert ready.status_code == 200, ready.text

    _wait_for(
        lambda: len(two_workers.http_workers()) == 2 and len(two_workers.background()) == 1,
        timeout=30,
        log=two_workers.server.log,
    )
    worker_pids = {worker.pid for worker in two_workers.http_workers()}
    assert two_workers.server.process.pid not in worker_pids
    answered, _ = asyncio.run(_answering_pids(two_workers, connections=50))
    assert len(answered) == 2
    two_workers.server.wait_for_log('"http_workers": 2', timeout=1)


async def _audited_event_types(owner_url: URL, resource_id: str) -> list[str]:
    settings = DatabaseSettings(pool_size=1, pool_max_overflow=0)
    engine = create_engine(owner_url, settings, application_name="mosaic-tests")
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(EventAuditEntry.type).where(EventAuditEntry.resource_id == resource_id)
            )
            return list(rows.scalars())
    finally:
        await engine.dispose()


def test_an_event_written_through_the_api_is_handled_by_the_background_process(
    two_workers: MultiProcessServer,
) -> None:
    owner_url = embedded_owner_url(two_workers.data_dir)
    _, key = create_tenant_with_key(owner_url)

    created = httpx.post(
        f"{two_workers.server.base_url}/api/v1/api-keys",
        headers={"X-API-Key": key},
        json={"name": "audited", "scopes": ["tenant:read"]},
    )
    assert created.status_code == 201, created.text

    key_id = created.json()["id"]
    _wait_for(
        lambda: asyncio.run(_audited_event_types(owner_url, key_id)) == ["ApiKeyCreated"],
        timeout=20,
        log=two_workers.server.log,
    )


def _metric(exposition: str, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` with ``labels`` in a Prometheus exposition."""
    return sum(
        float(sample.value)
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def test_a_scrape_adds_up_the_metrics_of_every_process(two_workers: MultiProcessServer) -> None:
    # Runs after an event was handled (the test above): the background process counted it.
    base_url = two_workers.server.base_url

    def unmatched_requests() -> float:
        exposition = httpx.get(f"{base_url}/metrics").text
        return _metric(exposition, "mosaic_http_requests_total", route="<unmatched>")

    before = unmatched_requests()
    answered, requests = asyncio.run(
        _answering_pids(
            two_workers, connections=50, path="/no-route-knows-this", expected_status=404
        )
    )
    assert len(answered) == 2  # both workers served some of them

    # A worker counts a request just after answering it: the last count may land a moment late.
    _wait_for(
        lambda: unmatched_requests() - before == requests, timeout=10, log=two_workers.server.log
    )
    for _ in range(3):  # whichever worker answers the scrape, it counts every process
        exposition = httpx.get(f"{base_url}/metrics").text
        unmatched = _metric(exposition, "mosaic_http_requests_total", route="<unmatched>")
        assert unmatched - before == requests
        handled = _metric(
            exposition, "mosaic_events_handled_total", consumer="audit", outcome="handled"
        )
        assert handled >= 1
        assert _metric(exposition, "mosaic_db_pool_size") > 0


def test_a_killed_http_worker_and_a_killed_background_process_are_replaced(
    two_workers: MultiProcessServer,
) -> None:
    [worker, _] = two_workers.http_workers()
    [background] = two_workers.background()

    worker.kill()
    background.kill()

    def replaced() -> bool:
        workers, backgrounds = two_workers.http_workers(), two_workers.background()
        return (
            len(workers) == 2
            and worker not in workers
            and len(backgrounds) == 1
            and background not in backgrounds
        )

    _wait_for(replaced, timeout=60, log=two_workers.server.log)
    two_workers.server.wait_for_log("background_process_died", timeout=1)
    ready = httpx.get(f"{two_workers.server.base_url}/health/ready")
    assert ready.status_code == 200, ready.text


def test_sigterm_stops_the_workers_then_the_background_process_then_postgres(
    two_workers: MultiProcessServer,
) -> None:
    tree = psutil.Process(two_workers.server.process.pid).children(recursive=True)
    assert tree

    assert two_workers.server.stop() == 0, two_workers.server.log()

    assert wait_until_gone(tree, timeout=10) == []
    assert_postgres_stopped(two_workers.data_dir)
    log = two_workers.server.log()
    assert log.index("Stopping parent process") < log.index('"background_process_stopped"')
    assert log.index('"background_process_stopped"') < log.index("embedded_postgres_stopping")


def test_children_of_a_killed_serve_stop_and_free_the_port(workdir: Path, data_dir: Path) -> None:
    env = mosaic_env(data_dir, MOSAIC_WEB_CONCURRENCY="2")
    with serving(data_dir, cwd=workdir, env=env) as server:
        children = psutil.Process(server.process.pid).children()
        assert len(children) >= 3  # two HTTP workers and the background process, at least

        server.process.kill()
        server.process.wait(timeout=10)

        assert wait_until_gone(children, timeout=30) == [], server.log()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.base_url}/health/live", timeout=2)


async def test_a_worker_app_freezes_what_its_start_up_made() -> None:
    made: list[object] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        made.append(object.__new__(type("Pool", (), {})))  # tracked by the collector
        yield

    app = frozen_after_startup(FastAPI(lifespan=lifespan))
    before = gc.get_freeze_count()
    try:
        async with LifespanManager(app):
            # Everything alive once start-up is over, the lifespan's own objects included,
            # is out of the collector's generations.
            assert gc.get_freeze_count() > before
            assert not any(made[0] is tracked for tracked in gc.get_objects())
    finally:
        gc.unfreeze()
