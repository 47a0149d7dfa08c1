"""``mosaic serve`` on several cores: HTTP worker processes and one background process.

With ``MOSAIC_WEB_CONCURRENCY`` above 1 the parent ``mosaic serve`` keeps the database to
itself (it starts the embedded PostgreSQL, migrates, and stops it last); uvicorn's supervisor
runs the HTTP workers on one shared socket and replaces any that dies; one background process
runs the outbox relay, the event consumers and the scheduler, so each runs exactly once.
Children are spawned, not forked: each builds its settings from the environment it inherits
and finds the parent's database with :func:`parent_database`; none starts or stops PostgreSQL.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager, suppress
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from mosaic.app import create_app
from mosaic.core.database import DatabaseLocation
from mosaic.core.logging import configure_logging
from mosaic.core.metrics import MULTIPROCESS_DIRECTORY_VARIABLE, multiprocess_directory
from mosaic.core.settings import ConfigurationError, DatabaseSettings, Settings, get_settings
from mosaic.event_consumers import consumers
from mosaic.events.runtime import EventRuntime
from mosaic.schedule import scheduled_jobs
from mosaic.scheduling.runner import STOP_GRACE_SECONDS, scheduler_running

logger = structlog.get_logger(__name__)

# uvicorn imports the HTTP workers' application by this name, in each worker.
WORKER_APP = "mosaic.serve:create_worker_app"
# The owner URL of the embedded cluster the parent runs. It names a local socket and a role that
# needs no password, so nothing secret travels; a MOSAIC_DATABASE_URL is inherited as it is.
EMBEDDED_URL_VARIABLE = "MOSAIC_SERVE_EMBEDDED_URL"
# prctl(2): the signal a process receives when the thread that started it ends.
_PR_SET_PDEATHSIG = 1
# How often the parent looks whether the background process still runs.
_WATCH_SECONDS = 1.0


def serve_in_processes(
    settings: Settings, location: DatabaseLocation, *, workers: int, uvicorn_options: dict[str, Any]
) -> bool:
    """Serve with ``workers`` HTTP processes and one background process until SIGINT/SIGTERM.

    The caller has provisioned and migrated ``location``, and stops PostgreSQL afterwards.
    Returns whether a signal stopped it; False means the HTTP workers could not start.
    """
    import uvicorn

    with (
        _embedded_url_exported(settings.database, location),
        _shared_metrics_directory(),
        _background_process(settings),
    ):
        # uvicorn's supervisor takes SIGINT/SIGTERM over while it runs: it asks each worker to
        # stop (in-flight requests finish) and returns once they have, without re-raising the
        # signal. The blocks above then stop the background process; the caller, PostgreSQL.
        received = signals_received_during(
            lambda: uvicorn.run(WORKER_APP, factory=True, workers=workers, **uvicorn_options)
        )
    stopped = bool(received & {signal.SIGINT, signal.SIGTERM})
    logger.info("http_workers_stopped", http_workers=workers, by_signal=stopped)
    return stopped


def signals_received_during(run: Callable[[], None]) -> set[int]:
    """The signals that arrived while ``run`` ran, whichever handler took them.

    uvicorn's supervisor replaces the handlers, and returns alike after a stop and after workers
    that cannot start (it logs the latter). The interpreter also writes each handled signal's
    number to the wakeup file descriptor, which nobody else sets in this process: that tells
    the two apart.
    """
    reader, writer = socket.socketpair()
    with reader, writer:
        writer.setblocking(False)
        previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        try:
            run()
        finally:
            signal.set_wakeup_fd(previous)
        reader.setblocking(False)
        received = bytearray()
        with suppress(BlockingIOError):
            while chunk := reader.recv(64):
                received += chunk
    return set(received)


def create_worker_app() -> FastAPI:
    """An HTTP worker's application (uvicorn's factory): the API alone, on the parent's database."""
    _stop_with_parent()
    settings = _child_settings()
    return frozen_after_startup(
        create_app(
            settings, parent_database(settings.database), run_worker=False, run_scheduler=False
        )
    )


def frozen_after_startup(app: FastAPI) -> FastAPI:
    """``app``, whose lifespan ends its start-up with :func:`gc.freeze`.

    By then the process holds about 250,000 objects that live as long as it does (modules,
    routes, the ORM's mappers, pools, compiled statements), and each full collection of the
    cyclic garbage collector walked them all: 140 to 180 ms during which the worker answered
    nothing, about once every 1,500 requests (measured on a listing worker). Frozen, a full
    collection looks only at what requests allocated since: about 10 ms.
    """
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with started(app):
            gc.freeze()
            yield

    app.router.lifespan_context = lifespan
    return app


def parent_database(settings: DatabaseSettings) -> DatabaseLocation:
    """The database the parent ``mosaic serve`` provisioned, as a child process finds it."""
    url = settings.url or os.environ.get(EMBEDDED_URL_VARIABLE)
    if url is None:
        raise ConfigurationError(
            f"{EMBEDDED_URL_VARIABLE} is not set: HTTP workers are started by `mosaic serve`, "
            "which runs the embedded PostgreSQL they use."
        )
    return DatabaseLocation.for_owner(url, settings)


def run_background() -> None:
    """The background process: relay, consumers and scheduler until the parent's SIGTERM."""
    # A terminal's Ctrl-C reaches the whole process group: this process stops when the parent
    # says so, after the HTTP workers, as on a SIGTERM sent to the parent alone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A plain handler rather than the event loop's: a SIGTERM is recorded whenever it comes, while
    # this process starts or once it is stopping too (systemd signals the whole group, then the
    # parent does), instead of killing it half-way.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _stop_with_parent()
    settings = _child_settings()
    asyncio.run(_run_background(settings, parent_database(settings.database), stop))


async def _run_background(
    settings: Settings, location: DatabaseLocation, stop: threading.Event
) -> None:
    async with AsyncExitStack() as running:
        if settings.events.run_worker:
            # Its metrics go to the directory the parent shares (a scrape of any HTTP worker
            # adds them up), through a registry of their own.
            registry = CollectorRegistry() if multiprocess_directory() else None
            events = EventRuntime(
                settings, location, consumers=consumers(settings), registry=registry
            )
            # Pushed first: a start that fails half-way still releases what it took.
            running.push_async_callback(events.stop)
            await events.start()
        await running.enter_async_context(
            scheduler_running(settings, location, scheduled_jobs(settings))
        )
        gc.freeze()  # as an HTTP worker does (frozen_after_startup)
        logger.info(
            "background_started",
            pid=os.getpid(),
            events=settings.events.run_worker,
            scheduler=settings.scheduler.scheduler_in_serve,
        )
        # Waited for in a thread: the plain signal handler cannot wake the event loop. Leaving
        # the block then stops taking work and lets in-flight handlers and jobs finish.
        await asyncio.to_thread(stop.wait)
        logger.info("background_stopping", pid=os.getpid())


class BackgroundProcess:
    """The one process running the relay, the consumers and the scheduler; replaced if it dies."""

    def __init__(self, *, stop_timeout: float) -> None:
        self._stop_timeout = stop_timeout
        self._process: SpawnProcess | None = None
        self._stopping = threading.Event()
        # A thread, since uvicorn's supervisor holds the main thread while the workers run.
        self._watcher = threading.Thread(
            target=self._watch, name="mosaic-background-watcher", daemon=True
        )

    def start(self) -> None:
        self._process = self._spawn()
        self._watcher.start()

    def stop(self) -> None:
        """Stop replacing it, ask it to stop (SIGTERM) and wait; kill it if it hangs."""
        self._stopping.set()
        if self._watcher.is_alive():
            self._watcher.join()
        process = self._process
        if process is None:
            return
        if process.is_alive():
            process.terminate()
            process.join(self._stop_timeout)
        if process.is_alive():
            logger.error("background_process_killed", pid=process.pid, after=self._stop_timeout)
            process.kill()
            process.join()
        logger.info("background_process_stopped", pid=process.pid, exit_code=process.exitcode)

    def _spawn(self) -> SpawnProcess:
        # Spawned like uvicorn's workers: a fork would copy the parent's threads and locks.
        process = multiprocessing.get_context("spawn").Process(
            target=run_background, name="mosaic-background"
        )
        process.start()
        logger.info("background_process_started", pid=process.pid)
        return process

    def _watch(self) -> None:
        while not self._stopping.wait(_WATCH_SECONDS):
            process = self._process
            if process is None or process.is_alive() or process.exitcode == 0:
                # A clean exit was asked for: a SIGTERM from the service manager to the whole
                # group (this parent stops next) or from an operator to this process alone.
                continue
            # Without it no event is delivered and no job runs, while the API looks healthy.
            logger.error("background_process_died", pid=process.pid, exit_code=process.exitcode)
            self._process = self._spawn()


@contextmanager
def _background_process(settings: Settings) -> Iterator[None]:
    """The background process for the block, when serve runs the events or the scheduler."""
    if not (settings.events.run_worker or settings.scheduler.scheduler_in_serve):
        yield
        return
    # The consumers' grace (as long as the requests'), then the scheduler's for running jobs.
    background = BackgroundProcess(
        stop_timeout=settings.server.graceful_shutdown_seconds + STOP_GRACE_SECONDS + 5.0
    )
    background.start()
    try:
        yield
    finally:
        background.stop()


@contextmanager
def _shared_metrics_directory() -> Iterator[None]:
    """Every child writes its metrics to one directory, so that a scrape sees them all.

    An operator's ``PROMETHEUS_MULTIPROC_DIR`` is used, emptied first (files a previous run
    left would be added to this one's); otherwise a temporary directory, gone afterwards.
    """
    configured = multiprocess_directory()
    if configured is not None:
        for stale in Path(configured).glob("*.db"):
            stale.unlink()
        yield
        return
    with tempfile.TemporaryDirectory(prefix="mosaic-metrics-") as directory:
        os.environ[MULTIPROCESS_DIRECTORY_VARIABLE] = directory
        try:
            yield
        finally:
            os.environ.pop(MULTIPROCESS_DIRECTORY_VARIABLE, None)


@contextmanager
def _embedded_url_exported(
    settings: DatabaseSettings, location: DatabaseLocation
) -> Iterator[None]:
    """Children inherit the environment at spawn: put the embedded cluster's URL in it."""
    if settings.url is not None:
        yield
        return
    os.environ[EMBEDDED_URL_VARIABLE] = location.owner_url.render_as_string(hide_password=False)
    try:
        yield
    finally:
        os.environ.pop(EMBEDDED_URL_VARIABLE, None)


def _stop_with_parent() -> None:
    """Have the kernel send this child SIGTERM when its parent dies (Linux).

    A ``mosaic serve`` killed with SIGKILL cannot stop its children; without this its HTTP
    workers would keep the port, and the next ``mosaic serve`` could not listen on it.
    """
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        # The parent died before the request was made: nothing would send the signal.
        os.kill(os.getpid(), signal.SIGTERM)


def _child_settings() -> Settings:
    settings = get_settings()
    configure_logging(settings.observability)
    return settings
