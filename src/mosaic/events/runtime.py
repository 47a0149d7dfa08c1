"""The events side of a process: the bus, the relay and the worker, started and stopped as one.

``mosaic worker`` runs it on its own; ``mosaic serve`` runs it inside the API process (unless
``MOSAIC_RUN_WORKER=false``), so a development server handles its events with no extra command.
The admin API borrows its bus to replay dead letters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import structlog
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from mosaic.core.database import DatabaseLocation, create_engine, create_sessionmaker
from mosaic.core.settings import Settings
from mosaic.events.bus import Bus
from mosaic.events.bus_factory import create_bus
from mosaic.events.consumer import Consumer
from mosaic.events.metrics import EventMetrics
from mosaic.events.relay import Relay
from mosaic.events.worker import Worker

logger = structlog.get_logger(__name__)


class EventRuntime:
    """Builds and runs the relay and the consumers of one process."""

    def __init__(
        self,
        settings: Settings,
        location: DatabaseLocation,
        *,
        consumers: Mapping[str, Consumer],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._settings = settings
        self._location = location
        self._consumers = dict(consumers)
        self._registry = registry
        self._bus: Bus | None = None
        self._bus_lock = asyncio.Lock()
        self._engines: list[AsyncEngine] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def bus(self) -> Bus:
        """The started bus (started on first use)."""
        async with self._bus_lock:
            if self._bus is None:
                bus = create_bus(self._settings, self._location)
                await bus.start()
                self._bus = bus
            return self._bus

    async def start(self, *, relay: bool = True, worker: bool = True) -> None:
        """Start the relay and/or the consumers as background tasks."""
        bus = await self.bus()
        events = self._settings.events
        if worker and self._consumers:
            database = self._settings.database
            app_engine = create_engine(
                self._location.app_url, database, application_name="mosaic-worker"
            )
            owner_engine = create_engine(
                self._location.owner_url, database, application_name="mosaic-worker-owner"
            )
            self._engines += [app_engine, owner_engine]
            consumer_runtime = Worker(
                bus=bus,
                app_sessions=create_sessionmaker(app_engine),
                owner_sessions=create_sessionmaker(owner_engine),
                consumers=self._consumers,
                settings=events,
                metrics=EventMetrics.create(self._registry) if self._registry else None,
                grace_seconds=self._settings.server.graceful_shutdown_seconds,
            )
            # Queues exist before the relay's first publish: nothing is published to no one.
            await consumer_runtime.subscribe()
            self._tasks.append(asyncio.create_task(consumer_runtime.run(self._stop)))
        if relay:
            relay_runtime = Relay(
                self._location.owner_url,
                bus,
                batch_size=events.relay_batch_size,
                poll_interval_seconds=events.poll_interval_seconds,
                batch_window_seconds=events.batch_window_seconds,
            )
            self._tasks.append(asyncio.create_task(relay_runtime.run(self._stop)))
        logger.info("events_started", bus=bus.name, relay=relay, consumers=sorted(self._consumers))

    async def wait(self) -> None:
        """Until every background task has ended (after :meth:`stop`)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        """Stop taking work, let in-flight handlers finish, release connections."""
        self._stop.set()
        await self.wait()
        self._tasks.clear()
        if self._bus is not None:
            await self._bus.close()
            self._bus = None
        for engine in self._engines:
            await engine.dispose()
        self._engines.clear()
        logger.info("events_stopped")
