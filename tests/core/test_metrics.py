"""Prometheus metrics: per-route request counts and latencies, and the DB pool's gauges."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from mosaic.app import create_app
from mosaic.core.database import DatabaseLocation
from mosaic.core.metrics import UNMATCHED_ROUTE, _forget_dead_processes
from mosaic.core.settings import Settings
from tests.conftest import TenantFactory

Labels = dict[str, str]


async def _scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _label_values(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], label: str
) -> set[str]:
    return {value for _, pairs in samples for key, value in pairs if key == label}


async def test_requests_are_counted_and_timed_by_route_template_and_status(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant()
    route = "/api/v1/api-keys/{key_id}"
    before = await _scrape(client)

    for _ in range(2):
        missing = await client.get(f"/api/v1/api-keys/{uuid4()}", headers=tenant.headers)
        assert missing.status_code == 404
    listed = await client.get("/api/v1/api-keys", headers=tenant.headers)
    assert listed.status_code == 200
    after = await _scrape(client)

    not_found = {"method": "GET", "route": route, "status": "404"}
    assert _value(after, "mosaic_http_requests_total", **not_found) - _value(
        before, "mosaic_http_requests_total", **not_found
    ) == pytest.approx(2)
    assert _value(after, "mosaic_http_request_duration_seconds_count", **not_found) - _value(
        before, "mosaic_http_request_duration_seconds_count", **not_found
    ) == pytest.approx(2)
    assert _value(after, "mosaic_http_request_duration_seconds_sum", **not_found) > _value(
        before, "mosaic_http_request_duration_seconds_sum", **not_found
    )
    assert _value(
        after, "mosaic_http_request_duration_seconds_bucket", **not_found, le="+Inf"
    ) == _value(after, "mosaic_http_request_duration_seconds_count", **not_found)
    ok = {"method": "GET", "route": "/api/v1/api-keys", "status": "200"}
    assert _value(after, "mosaic_http_requests_total", **ok) >= 1
    # Concrete ids never become labels.
    assert not any(value.count("-") == 4 for value in _label_values(after, "route"))


async def test_unmatched_paths_share_one_route_label(client: httpx.AsyncClient) -> None:
    labels = {"method": "GET", "route": UNMATCHED_ROUTE, "status": "404"}
    before = await _scrape(client)
    paths = [f"/no-such-page/{uuid4()}", f"/wp-admin/{uuid4()}.php", f"/api/v1/{uuid4()}"]

    for path in paths:
        assert (await client.get(path)).status_code == 404
    after = await _scrape(client)

    assert _value(after, "mosaic_http_requests_total", **labels) - _value(
        before, "mosaic_http_requests_total", **labels
    ) == pytest.approx(len(paths))
    assert not set(paths) & _label_values(after, "route")


async def test_unknown_methods_share_one_label(client: httpx.AsyncClient) -> None:
    before = await _scrape(client)

    await client.request("BREW", "/health/live")
    after = await _scrape(client)

    assert "BREW" not in _label_values(after, "method")
    labels = {"method": "OTHER", "route": "/health/live", "status": "405"}
    assert _value(after, "mosaic_http_requests_total", **labels) - _value(
        before, "mosaic_http_requests_total", **labels
    ) == pytest.approx(1)


async def test_the_scrape_itself_is_not_recorded(client: httpx.AsyncClient) -> None:
    await _scrape(client)
    samples = await _scrape(client)

    assert "/metrics" not in _label_values(samples, "route")


async def test_metrics_are_prometheus_text_and_not_in_the_openapi_schema(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/metrics")
    schema = (await client.get("/openapi.json")).json()

    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "/metrics" not in schema["paths"]


async def test_pool_gauges_are_read_at_scrape_time(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    idle = await _scrape(client)
    async with app.state.database.engine.connect() as connection:
        busy = await _scrape(client)
        assert connection is not None

    assert _value(idle, "mosaic_db_pool_size") == settings.database.pool_size
    assert _value(busy, "mosaic_db_pool_checked_out") - _value(
        idle, "mosaic_db_pool_checked_out"
    ) == pytest.approx(1)
    assert ("mosaic_db_pool_overflow", frozenset()) in busy
    assert _value(busy, "mosaic_db_pool_overflow") >= 0
    assert ("mosaic_db_pool_checked_in", frozenset()) in busy


@pytest.fixture
async def failing_app(settings: Settings, location: DatabaseLocation) -> AsyncIterator[FastAPI]:
    application = create_app(settings, location)

    @application.get("/test/crash/{thing}")
    async def crash(thing: str) -> None:
        raise RuntimeError(thing)

    async with LifespanManager(application):
        yield application


async def test_an_exception_that_escapes_is_recorded_as_500(failing_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=failing_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/test/crash/now")
        samples = await _scrape(client)

    assert response.status_code == 500
    labels = {"method": "GET", "route": "/test/crash/{thing}", "status": "500"}
    assert _value(samples, "mosaic_http_requests_total", **labels) == 1


async def test_each_app_has_its_own_registry(
    settings: Settings, location: DatabaseLocation
) -> None:
    first, second = create_app(settings, location), create_app(settings, location)
    labels = {"method": "GET", "route": "/health/live", "status": "200"}

    # No lifespan: neither the probe nor the scrape needs the database.
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://a") as one,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://b") as two,
    ):
        assert (await one.get("/health/live")).status_code == 200
        first_samples, second_samples = await _scrape(one), await _scrape(two)

    assert _value(first_samples, "mosaic_http_requests_total", **labels) == 1
    assert _value(second_samples, "mosaic_http_requests_total", **labels) == 0
    # Without a database (before start-up) the pool gauges are simply absent.
    assert ("mosaic_db_pool_size", frozenset()) not in first_samples


def test_the_live_gauges_of_dead_processes_are_forgotten(tmp_path: Path) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()  # gone, and reaped
    dead = tmp_path / f"gauge_livesum_{finished.pid}.db"
    alive = tmp_path / f"gauge_livesum_{os.getpid()}.db"
    counter = tmp_path / "counter_12345.db"  # counts of dead processes stay in the sums
    for file in (dead, alive, counter):
        file.write_bytes(b"")

    _forget_dead_processes(str(tmp_path))

    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([alive.name, counter.name])
