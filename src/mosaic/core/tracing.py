"""OpenTelemetry traces for requests, SQL and outgoing HTTP, exported over OTLP/HTTP.

Off unless ``MOSAIC_OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_ENDPOINT``) is set:
then the app gets its own ``TracerProvider`` with a batch processor, handed explicitly to
everything that traces. Requests are traced by FastAPI's native telemetry (it names spans by
route template, ``GET /api/v1/api-keys/{key_id}``, which the older ASGI instrumentation cannot
see through FastAPI's included routers); SQL and httpx by the OpenTelemetry instrumentors.

Several apps can live in one process (the tests build many): the global provider is set by the
first traced app only, and an untraced app switches FastAPI's telemetry off outright — it would
otherwise trace into whatever global provider exists. The SQLAlchemy and httpx instrumentors
are process-wide singletons: the first traced app to start owns them until it stops. In
production there is one app per process.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy.ext.asyncio import AsyncEngine

from mosaic import __version__
from mosaic.core.metrics import METRICS_PATH
from mosaic.core.settings import ObservabilitySettings

logger = structlog.get_logger(__name__)

TRACES_PATH = "/v1/traces"
# Scrapes and probes arrive every few seconds and say nothing about anyone's request.
_UNTRACED_PREFIXES = (METRICS_PATH, "/health/")


def traces_endpoint(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for a configured endpoint.

    ``OTEL_EXPORTER_OTLP_ENDPOINT`` is, by the OpenTelemetry spec, the collector's base URL to
    which the signal's path is appended; a URL that already names the traces path is kept.
    """
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    path = scope.get("path", "")
    if not isinstance(path, str):
        return False
    # An OIDC callback's query holds the authorization code and state, which request spans
    # would record in url.query.
    is_oidc_callback = path.startswith("/auth/") and path.endswith("/callback")
    return path.startswith(_UNTRACED_PREFIXES) or is_oidc_callback


@dataclass
class Tracing:
    """One app's tracing: its provider (``None`` when off) and the instrumentors it owns."""

    provider: TracerProvider | None
    _owns_sqlalchemy: bool = field(default=False, init=False)
    _owns_httpx: bool = field(default=False, init=False)

    @classmethod
    def from_settings(cls, settings: ObservabilitySettings) -> Tracing:
        """A provider exporting to the configured OTLP endpoint, or tracing off without one."""
        if not settings.otel_exporter_otlp_endpoint:
            return cls(provider=None)
        provider = TracerProvider(
            resource=Resource.create(
                {SERVICE_NAME: settings.otel_service_name, SERVICE_VERSION: __version__}
            )
        )
        exporter = OTLPSpanExporter(endpoint=traces_endpoint(settings.otel_exporter_otlp_endpoint))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            # Once per process: OpenTelemetry refuses (and warns about) a second global one.
            trace.set_tracer_provider(provider)
        return cls(provider=provider)

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def fastapi_telemetry(self) -> TelemetryConfig:
        """FastAPI's native telemetry options: request spans only, into this app's provider."""
        # Metrics are Prometheus's (core/metrics.py) and logs structlog's; never let FastAPI
        # add exporters of its own from FASTAPI_OTEL_AUTO_CONFIGURE.
        if self.provider is None:
            return {"tracing": False, "metrics": False, "logs": False, "auto_configure": False}
        return {
            "tracer_provider": self.provider,
            "tracing": True,
            "metrics": False,
            "logs": False,
            "auto_configure": False,
            "exclude": _untraced,
        }

    def instrument_clients(self, engine: AsyncEngine) -> None:
        """Trace the SQL ``engine`` runs and outgoing httpx calls (call in the lifespan)."""
        if self.provider is None:
            return
        sqlalchemy = SQLAlchemyInstrumentor()
        if sqlalchemy.is_instrumented_by_opentelemetry:
            logger.warning("sql_tracing_owned_by_another_app")
        else:
            # skip_dep_check: the instrumentation still declares sqlalchemy<2.1 but only uses
            # the stable engine events; the tracing tests check that SQL spans do arrive.
            sqlalchemy.instrument(
                engine=engine.sync_engine, tracer_provider=self.provider, skip_dep_check=True
            )
            self._owns_sqlalchemy = True
        httpx = HTTPXClientInstrumentor()
        if not httpx.is_instrumented_by_opentelemetry:
            httpx.instrument(tracer_provider=self.provider)
            self._owns_httpx = True

    def shutdown(self) -> None:
        """Release the instrumentors this app owns and flush the spans still buffered."""
        if self._owns_sqlalchemy:
            SQLAlchemyInstrumentor().uninstrument()
            self._owns_sqlalchemy = False
        if self._owns_httpx:
            HTTPXClientInstrumentor().uninstrument()
            self._owns_httpx = False
        if self.provider is not None:
            self.provider.shutdown()
