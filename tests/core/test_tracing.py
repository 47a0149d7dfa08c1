"""OpenTelemetry tracing: off by default; with an endpoint, spans for requests, their SQL and
outgoing httpx calls reach a real OTLP/HTTP receiver (run here, in a thread)."""

from __future__ import annotations

import gzip
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mosaic.app import create_app
from mosaic.core.database import DatabaseLocation
from mosaic.core.settings import ObservabilitySettings, Settings
from mosaic.core.tracing import Tracing, traces_endpoint
from tests.conftest import TenantFactory

ENDPOINT_VARIABLES = ("MOSAIC_OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    kind: int
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    attributes: dict[str, Any]
    service_name: str


def _attributes(pairs: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        assert isinstance(pair, KeyValue)
        kind = pair.value.WhichOneof("value")
        values[pair.key] = getattr(pair.value, kind) if kind else None
    return values


class OtlpReceiver:
    """A minimal OTLP/HTTP collector: decodes protobuf ``POST /v1/traces``; ``GET`` → 200."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.content_types: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                receiver.content_types.append(self.headers.get("Content-Type", ""))
                receiver.record(ExportTraceServiceRequest.FromString(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "4")
                self.end_headers()
                self.wfile.write(b"pong")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output for the app's own logs

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def record(self, request: ExportTraceServiceRequest) -> None:
        with self._lock:
            for resource_spans in request.resource_spans:
                service = _attributes(resource_spans.resource.attributes).get("service.name")
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append(
                            ReceivedSpan(
                                name=span.name,
                                kind=span.kind,
                                trace_id=span.trace_id,
                                span_id=span.span_id,
                                parent_span_id=span.parent_span_id,
                                attributes=_attributes(span.attributes),
                                service_name=str(service),
                            )
                        )

    def named(self, name: str) -> list[ReceivedSpan]:
        return [span for span in self.spans if span.name == name]


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    collector = OtlpReceiver()
    collector.thread.start()
    yield collector
    collector.server.shutdown()
    collector.server.server_close()


@pytest.fixture
def no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ENDPOINT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def _traced_settings(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, endpoint: str, service: str
) -> Settings:
    # Through the environment, as an operator would configure it.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    observability = ObservabilitySettings(otel_service_name=service)
    assert observability.otel_exporter_otlp_endpoint == endpoint
    return settings.model_copy(update={"observability": observability})


@pytest.fixture(scope="module")
def global_spans() -> InMemorySpanExporter:
    """A global tracer provider that records in memory, as an unrelated library might set."""
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        pytest.skip("another test already set this process's global tracer provider")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


async def _serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def test_tracing_is_off_without_an_endpoint(no_endpoint: None) -> None:
    settings = ObservabilitySettings()

    assert settings.otel_exporter_otlp_endpoint is None
    assert not Tracing.from_settings(settings).enabled


def test_the_endpoint_is_the_collector_base_url() -> None:
    assert traces_endpoint("http://collector:4318") == "http://collector:4318/v1/traces"
    assert traces_endpoint("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert traces_endpoint("http://c:4318/v1/traces") == "http://c:4318/v1/traces"


async def test_an_untraced_app_records_nothing_even_beside_a_global_provider(
    global_spans: InMemorySpanExporter,
    no_endpoint: None,
    settings: Settings,
    location: DatabaseLocation,
    make_tenant: TenantFactory,
) -> None:
    tenant = await make_tenant()
    global_spans.clear()
    app = create_app(settings, location)

    async for client in _serve(app):
        assert (await client.get("/api/v1/tenant", headers=tenant.headers)).status_code == 200
        assert not SQLAlchemyInstrumentor().is_instrumented_by_opentelemetry
        assert not HTTPXClientInstrumentor().is_instrumented_by_opentelemetry

    assert global_spans.get_finished_spans() == ()


async def test_request_and_sql_spans_reach_the_collector(
    global_spans: InMemorySpanExporter,
    receiver: OtlpReceiver,
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    location: DatabaseLocation,
    make_tenant: TenantFactory,
) -> None:
    tenant = await make_tenant()
    global_spans.clear()
    app = create_app(
        _traced_settings(settings, monkeypatch, receiver.base_url, "mosaic-under-test"), location
    )

    async for client in _serve(app):
        assert (await client.get("/api/v1/tenant", headers=tenant.headers)).status_code == 200
    # Leaving the lifespan shut the provider down, which flushed the batch.

    assert receiver.content_types
    assert all(kind == "application/x-protobuf" for kind in receiver.content_types)
    (server,) = receiver.named("GET /api/v1/tenant")
    assert server.kind == 2  # SPAN_KIND_SERVER
    assert server.attributes["http.route"] == "/api/v1/tenant"
    assert server.attributes["http.response.status_code"] == 200
    assert server.service_name == "mosaic-under-test"
    sql = [
        span
        for span in receiver.spans
        if span.trace_id == server.trace_id and span.kind == 3  # SPAN_KIND_CLIENT
    ]
    assert sql, "no SQL span in the request's trace"
    assert all(
        "postgresql" in (span.attributes.get("db.system"), span.attributes.get("db.system.name"))
        for span in sql
    )
    statements = [
        str(span.attributes.get("db.statement", span.attributes.get("db.query.text")))
        for span in sql
    ]
    assert any("api_keys" in statement for statement in statements)
    # The explicit provider was used, not the process-wide one.
    assert global_spans.get_finished_spans() == ()


async def test_outgoing_httpx_calls_are_traced_while_the_app_runs(
    receiver: OtlpReceiver,
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    location: DatabaseLocation,
) -> None:
    app = create_app(_traced_settings(settings, monkeypatch, receiver.base_url, "m"), location)
    ping = f"{receiver.base_url}/ping"

    async for _ in _serve(app):
        async with httpx.AsyncClient() as outgoing:
            assert (await outgoing.get(ping)).status_code == 200
    async with httpx.AsyncClient() as after_shutdown:
        await after_shutdown.get(ping)

    # Old or new HTTP semantic conventions, depending on OTEL_SEMCONV_STABILITY_OPT_IN.
    calls = [
        span
        for span in receiver.spans
        if ping in (span.attributes.get("url.full"), span.attributes.get("http.url"))
    ]
    assert len(calls) == 1
    assert calls[0].kind == 3  # SPAN_KIND_CLIENT
    assert not HTTPXClientInstrumentor().is_instrumented_by_opentelemetry


async def test_probes_scrapes_and_oidc_callbacks_are_not_traced(
    receiver: OtlpReceiver,
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    location: DatabaseLocation,
) -> None:
    app = create_app(_traced_settings(settings, monkeypatch, receiver.base_url, "m"), location)

    async for client in _serve(app):
        await client.get("/health/live")
        await client.get("/health/ready")
        await client.get("/metrics")
        await client.get("/auth/google/callback?code=an-authorization-code&state=s")
        await client.get("/traced-404")

    paths = {span.attributes.get("url.path") for span in receiver.spans}
    assert "/traced-404" in paths
    assert not {"/health/live", "/health/ready", "/metrics"} & paths
    # Its query carries an authorization code.
    assert "/auth/google/callback" not in paths


async def test_a_second_traced_app_traces_its_sql_too(
    receiver: OtlpReceiver,
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    location: DatabaseLocation,
    make_tenant: TenantFactory,
) -> None:
    tenant = await make_tenant()

    for service in ("first", "second"):
        app = create_app(
            _traced_settings(settings, monkeypatch, receiver.base_url, service), location
        )
        async for client in _serve(app):
            await client.get("/api/v1/tenant", headers=tenant.headers)

    sql_services = {span.service_name for span in receiver.spans if span.kind == 3}
    assert sql_services == {"first", "second"}
