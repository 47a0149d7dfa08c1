"""Prometheus metrics: request count and latency per route template, and the DB pool's state.

Each app owns its ``CollectorRegistry`` (tests build several apps in one process; the global
registry would refuse the second set of metrics). Labels stay bounded: the route *template*
(``/api/v1/api-keys/{key_id}``), one ``<unmatched>`` label for every path no route knows, and
one ``OTHER`` label for unknown methods.

The ``/metrics`` scrape itself is not recorded: Prometheus already measures every scrape
(``scrape_duration_seconds``, ``up``), and counting it would add a series that only says how
often the scraper runs. Health probes are recorded: their latency is the database's.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector
from sqlalchemy.pool import Pool, QueuePool
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METRICS_PATH = "/metrics"
UNMATCHED_ROUTE = "<unmatched>"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

router = APIRouter()


@dataclass(frozen=True)
class HttpMetrics:
    """One app's registry and the request metrics recorded into it."""

    registry: CollectorRegistry
    requests: Counter
    duration: Histogram

    @classmethod
    def create(cls, pool: Callable[[], Pool | None]) -> HttpMetrics:
        """A fresh registry with the request metrics and a collector for ``pool()``."""
        registry = CollectorRegistry(auto_describe=True)
        labels = ("method", "route", "status")
        requests = Counter(
            "mosaic_http_requests",
            "HTTP requests served, by method, route template and status code.",
            labels,
            registry=registry,
        )
        duration = Histogram(
            "mosaic_http_request_duration_seconds",
            "Time from receiving the request to sending the last byte of the response.",
            labels,
            registry=registry,
        )
        registry.register(DatabasePoolCollector(pool))
        return cls(registry=registry, requests=requests, duration=duration)


class DatabasePoolCollector(Collector):
    """Reads the SQLAlchemy pool at scrape time, so the gauges are never stale."""

    def __init__(self, pool: Callable[[], Pool | None]) -> None:
        self._pool = pool

    def collect(self) -> Iterable[Metric]:
        pool = self._pool()
        if not isinstance(pool, QueuePool):
            return  # before start-up (no engine yet), or a pool without these counters
        yield GaugeMetricFamily(
            "mosaic_db_pool_size", "Connections the pool keeps open at most.", pool.size()
        )
        yield GaugeMetricFamily(
            "mosaic_db_pool_checked_out",
            "Connections currently lent to requests.",
            pool.checkedout(),
        )
        yield GaugeMetricFamily(
            "mosaic_db_pool_checked_in", "Open connections idle in the pool.", pool.checkedin()
        )
        # QueuePool counts overflow from -pool_size (a pool still filling up is "negative
        # overflow"); only the connections beyond pool_size are overflow to an operator.
        yield GaugeMetricFamily(
            "mosaic_db_pool_overflow",
            "Connections open beyond the pool size (bounded by max_overflow).",
            max(pool.overflow(), 0),
        )


class MetricsMiddleware:
    """Pure ASGI: counts and times every HTTP request except the ``/metrics`` scrape."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = _RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # An exception that escapes the app becomes a 500 in Starlette's outermost
        # middleware, which sits outside this one: count it as what the client receives.
        status_code = 500

        async def send_recording_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            # The router stored the matched route in the scope while the app ran.
            labels = (_method(scope["method"]), self.routes.of(scope), str(status_code))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.duration.labels(*labels).observe(time.perf_counter() - started)


class _RouteTemplates:
    """The full path template of the route the router matched.

    FastAPI (0.16x) stores the *included* router's own route in ``scope["route"]``, whose
    ``path`` lacks the include prefix (``/api-keys/{key_id}``); the app's route contexts know
    the effective template (``/api/v1/api-keys/{key_id}``).
    """

    def __init__(self) -> None:
        self._templates: dict[int, list[tuple[re.Pattern[str], str]]] = {}

    def of(self, scope: Scope) -> str:
        route: BaseRoute | None = scope.get("route")
        if route is None:
            return UNMATCHED_ROUTE
        candidates = self._templates.get(id(route))
        if candidates is None:
            # Built on first use, and again when a route was added after that. A route FastAPI
            # does not list is remembered as such, so it cannot cause a rebuild per request.
            self._templates = _effective_templates(scope["app"].routes)
            candidates = self._templates.setdefault(id(route), [])
        if len(candidates) > 1:
            # One router included under several prefixes: the path tells which one.
            path = scope["path"]
            candidates = [c for c in candidates if c[0].match(path)] or candidates
        if candidates:
            return candidates[0][1]
        path = getattr(route, "path", None)
        return path if isinstance(path, str) else UNMATCHED_ROUTE


def _effective_templates(
    routes: list[BaseRoute],
) -> dict[int, list[tuple[re.Pattern[str], str]]]:
    templates: dict[int, list[tuple[re.Pattern[str], str]]] = {}
    for context in iter_route_contexts(routes):
        template, regex = context.path_format, getattr(context, "path_regex", None)
        if template is not None and isinstance(regex, re.Pattern):
            templates.setdefault(id(context.original_route), []).append((regex, template))
    return templates


def _method(method: str) -> str:
    return method if method in _KNOWN_METHODS else "OTHER"


@router.get(METRICS_PATH, include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Expose the app's metrics in the Prometheus text format."""
    http_metrics: HttpMetrics = request.app.state.metrics
    # The classic 0.0.4 text format: what generate_latest writes, and every Prometheus reads.
    return Response(generate_latest(http_metrics.registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)
