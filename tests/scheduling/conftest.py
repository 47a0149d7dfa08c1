"""Fixtures for the scheduler: an owner database, fast settings, and a way to wait on runs."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.core.database import Database, DatabaseLocation
from mosaic.core.settings import DatabaseSettings, SchedulerSettings, Settings
from mosaic.models import JobRun
from mosaic.scheduling.job import Job
from mosaic.scheduling.runner import owner_database, run_scheduler


@pytest.fixture
async def scheduler_database(
    location: DatabaseLocation, database_settings: DatabaseSettings
) -> AsyncIterator[Database]:
    database = owner_database(location, database_settings)
    yield database
    await database.dispose()


@pytest.fixture
def scheduler_settings(settings: Settings) -> Settings:
    fast = SchedulerSettings(scheduler_poll_seconds=0.1, scheduler_tick_seconds=0.1)
    return settings.model_copy(update={"scheduler": fast})


@pytest.fixture
def lock_key() -> int:
    """A leader lock of the test's own, so no other test's scheduler can hold it."""
    return secrets.randbits(62)


class Schedulers:
    """Start scheduler tasks for a test and always stop them at its end."""

    def __init__(self, settings: Settings, database: Database, lock_key: int) -> None:
        self.settings = settings
        self.database = database
        self.lock_key = lock_key
        self.running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    def start(self, jobs: Sequence[Job]) -> tuple[asyncio.Event, asyncio.Task[None]]:
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_scheduler(self.settings, self.database, stop, jobs=jobs, lock_key=self.lock_key)
        )
        self.running.append((stop, task))
        return stop, task

    async def stop_all(self) -> None:
        for stop, _ in self.running:
            stop.set()
        await asyncio.wait_for(
            asyncio.gather(*(task for _, task in self.running), return_exceptions=True),
            timeout=30,
        )


@pytest.fixture
async def schedulers(
    scheduler_settings: Settings, scheduler_database: Database, lock_key: int
) -> AsyncIterator[Schedulers]:
    started = Schedulers(scheduler_settings, scheduler_database, lock_key)
    yield started
    await started.stop_all()


RunsOf = Callable[[str], Awaitable[list[JobRun]]]


@pytest.fixture
def runs_of(owner_sessions: async_sessionmaker[AsyncSession]) -> RunsOf:
    async def runs(job: str) -> list[JobRun]:
        async with owner_sessions() as session:
            found = await session.scalars(
                select(JobRun).where(JobRun.job == job).order_by(JobRun.scheduled_for)
            )
            return list(found)

    return runs


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 15.0, every: float = 0.05
) -> None:
    """Wait until ``check()`` holds; fail the test if it still fails after ``within`` s."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"still not true after {within}s")
        await asyncio.sleep(every)


def job_name() -> str:
    return f"test.job-{secrets.token_hex(4)}"
