"""Prometheus metrics: request count and latency per route template, and the DB pool's state.

Each app owns its ``CollectorRegistry`` (tests build several apps in one process; the global
registry would refuse the second set of metrics). Labels stay bounded: the route *template*
(``/api/v1/api-keys/{key_id}``), one ``<unmatched>`` label for every path no route knows, and
one ``OTHER`` label for unknown methods.

The ``/metrics`` scrape itself is not recorded: Prometheus already measures every scrape
(``scrape_duration_seconds``, ``up``), and counting it would add a series that only says how
often the scraper runs. Health probes are recorded: their latency is the database's.

With several processes (``mosaic serve`` with ``MOSAIC_WEB_CONCURRENCY`` above 1 sets
``PROMETHEUS_MULTIPROC_DIR``), every process writes its metrics to files there and a scrape,
whichever HTTP worker answers it, adds up all of them: the workers' requests and pools, and
the background process's consumers. A dead process's counts stay in the sums; its gauges go.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector
from sqlalchemy.pool import Pool, QueuePool
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METRICS_PATH = "/metrics"
# prometheus_client's own variable: it reads it when first imported, so a process must have it
# in its environment from the start (``mosaic serve`` sets it before spawning its children).
MULTIPROCESS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# A live gauge's file in that directory: ``gauge_livesum_<pid>.db``.
_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")
UNMATCHED_ROUTE = "<unmatched>"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

router = APIRouter()


def multiprocess_directory() -> str | None:
    """Where this process shares its metrics with the others, if it runs beside them."""
    return os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE) or None


@dataclass(frozen=True)
class HttpMetrics:
    """One app's registry and the request metrics recorded into it."""

    registry: CollectorRegistry
    requests: Counter
    duration: Histogram
    # Set only beside other processes: the pool's state, written after every request.
    pool_gauges: PoolGauges | None = None

    @classmethod
    def create(cls, pool: Callable[[], Pool | None]) -> HttpMetrics:
        """A fresh registry with the request metrics and the state of ``pool()``."""
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
        if multiprocess_directory() is None:
            registry.register(DatabasePoolCollector(pool))
            return cls(registry=registry, requests=requests, duration=duration)
        # A collector reads this process's pool only: beside other processes each writes its
        # pool's state to gauges that the scrape adds up.
        pool_gauges = PoolGauges.create(pool, registry)
        return cls(registry=registry, requests=requests, duration=duration, pool_gauges=pool_gauges)

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format: this process's, or every process's."""
        directory = multiprocess_directory()
        if directory is None:
            return generate_latest(self.registry)
        if self.pool_gauges is not None:
            self.pool_gauges.record()
        _forget_dead_processes(directory)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


# With several HTTP workers, each is the sum over their pools.
_POOL_GAUGES = {
    "size": ("mosaic_db_pool_size", "Connections the pool keeps open at most."),
    "checked_out": ("mosaic_db_pool_checked_out", "Connections currently lent to requests."),
    "checked_in": ("mosaic_db_pool_checked_in", "Open connections idle in the pool."),
    "overflow": (
        "mosaic_db_pool_overflow",
        "Connections open beyond the pool size (bounded by max_overflow).",
    ),
}


@dataclass(frozen=True)
class PoolGauges:
    """The pool's state as gauges summed over the live processes (several-process mode)."""

    pool: Callable[[], Pool | None]
    gauges: dict[str, Gauge]

    @classmethod
    def create(cls, pool: Callable[[], Pool | None], registry: CollectorRegistry) -> PoolGauges:
        gauges = {
            key: Gauge(name, help_text, registry=registry, multiprocess_mode="livesum")
            for key, (name, help_text) in _POOL_GAUGES.items()
        }
        return cls(pool=pool, gauges=gauges)

    def record(self) -> None:
        for key, value in _pool_state(self.pool()).items():
            self.gauges[key].set(value)


def _forget_dead_processes(directory: str) -> None:
    """Drop the live gauges of processes that died (a replaced worker, say)."""
    pids = {
        int(match.group(1))
        for name in os.listdir(directory)
        if (match := _LIVE_GAUGE_FILE.fullmatch(name))
    }
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass  # alive, under another user


class DatabasePoolCollector(Collector):
    """Reads the SQLAlchemy pool at scrape time, so the gauges are never stale."""

    def __init__(self, pool: Callable[[], Pool | None]) -> None:
        self._pool = pool

    def collect(self) -> Iterable[Metric]:
        for key, value in _pool_state(self._pool()).items():
            name, help_text = _POOL_GAUGES[key]
            yield GaugeMetricFamily(name, help_text, value)


def _pool_state(pool: Pool | None) -> dict[str, int]:
    """The pool's gauges by key of ``_POOL_GAUGES``; none before start-up (no engine yet) or
    for a pool without these counters."""
    if not isinstance(pool, QueuePool):
        return {}
    return {
        "size": pool.size(),
        "checked_out": pool.checkedout(),
        "checked_in": pool.checkedin(),
        # QueuePool counts overflow from -pool_size (a pool still filling up is "negative
        # overflow"); only the connections beyond pool_size are overflow to an operator.
        "overflow": max(pool.overflow(), 0),
    }


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
            if self.metrics.pool_gauges is not None:
                self.metrics.pool_gauges.record()


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
    """Expose the metrics in the Prometheus text format (every process's, beside others)."""
    http_metrics: HttpMetrics = request.app.state.metrics
    # The classic 0.0.4 text format: what generate_latest writes, and every Prometheus reads.
    return Response(http_metrics.exposition(), media_type=CONTENT_TYPE_PLAIN_0_0_4)
