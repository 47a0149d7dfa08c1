"""The scheduler process: follow until leading, then claim and run due jobs, once each.

Any number of schedulers may run; one leads (:mod:`mosaic.scheduling.leadership`). The leader
claims each due run in ``job_runs`` before starting it, so even a leader that has just lost
its lock to another cannot run a due time twice. A run is retried with exponential backoff
and jitter (tenacity), each attempt in a fresh owner transaction, then recorded as failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from uuid import UUID, uuid4

import structlog
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt, wait_exponential_jitter

from mosaic.core.database import Database, DatabaseLocation, create_engine, create_sessionmaker
from mosaic.core.settings import DatabaseSettings, SchedulerSettings, Settings
from mosaic.models import JobRunStatus
from mosaic.scheduling import repository
from mosaic.scheduling.job import Job
from mosaic.scheduling.leadership import LEADER_LOCK_KEY, LeaderLock

logger = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
# How long in-flight runs may finish after a stop, before they are cancelled.
STOP_GRACE_SECONDS = 10.0
_MAX_ERROR_LENGTH = 2000


def owner_database(location: DatabaseLocation, settings: DatabaseSettings) -> Database:
    """A small pool connected as the database owner: jobs work across every tenant."""
    small = settings.model_copy(update={"pool_size": 2, "pool_max_overflow": 4})
    engine = create_engine(location.owner_url, small, application_name="mosaic-scheduler")
    return Database(engine=engine, sessionmaker=create_sessionmaker(engine))


async def run_scheduler(
    settings: Settings,
    database: Database,
    stop: asyncio.Event,
    *,
    jobs: Sequence[Job],
    clock: Clock | None = None,
    lock_key: int = LEADER_LOCK_KEY,
) -> None:
    """Schedule ``jobs`` until ``stop`` is set; ``database`` must be connected as the owner."""
    scheduler = Scheduler(
        database,
        jobs,
        settings.scheduler,
        clock=clock or _utc_now,
        lock_key=lock_key,
    )
    await scheduler.run(stop)


@asynccontextmanager
async def scheduler_running(
    settings: Settings, location: DatabaseLocation, jobs: Sequence[Job]
) -> AsyncIterator[asyncio.Task[None] | None]:
    """Run a scheduler in the background for the block (``mosaic serve``'s lifespan).

    Yields the task, or None when ``MOSAIC_SCHEDULER_IN_SERVE`` is off; on the way out the
    scheduler stops as on SIGTERM (running jobs finish or are recorded as interrupted).
    """
    if not settings.scheduler.scheduler_in_serve:
        yield None
        return
    database = owner_database(location, settings.database)
    stop = asyncio.Event()
    task = asyncio.create_task(run_scheduler(settings, database, stop, jobs=jobs), name="scheduler")
    try:
        yield task
    finally:
        stop.set()
        try:
            await task
        finally:
            await database.dispose()


class Scheduler:
    """One scheduler process: a follower, or the leader running the jobs."""

    def __init__(
        self,
        database: Database,
        jobs: Sequence[Job],
        settings: SchedulerSettings,
        *,
        clock: Clock,
        lock_key: int,
    ) -> None:
        names = [job.name for job in jobs]
        if len(set(names)) != len(names):
            raise ValueError("Job names must be unique")
        self.database = database
        self.jobs = tuple(jobs)
        self.settings = settings
        self.clock = clock
        self.lock_key = lock_key
        # host:pid:random, so two schedulers in one process (tests) are told apart too.
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:6]}"
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._claimed: dict[str, datetime] = {}

    async def run(self, stop: asyncio.Event) -> None:
        logger.info("scheduler_started", scheduler=self.name, jobs=len(self.jobs))
        while not stop.is_set():
            lock = await self._try_lead()
            if lock is None:
                await _sleep_until_stopped(stop, self.settings.scheduler_poll_seconds)
                continue
            logger.info("scheduler_leading", scheduler=self.name)
            failed = False
            try:
                await self._abandon_orphaned_runs()
                await self._lead(lock, stop)
            except Exception as exc:  # the database failed mid-tick: step down, try again later
                failed = True
                logger.error("scheduler_leader_failed", error=_describe(exc))
            finally:
                await self._stop_in_flight()
                await lock.release()
                logger.info("scheduler_stepped_down", scheduler=self.name)
            if failed:
                await _sleep_until_stopped(stop, self.settings.scheduler_poll_seconds)
        logger.info("scheduler_stopped", scheduler=self.name)

    async def _try_lead(self) -> LeaderLock | None:
        try:
            return await LeaderLock.acquire(self.database.engine.url, key=self.lock_key)
        except (OSError, TimeoutError) as exc:
            logger.warning("scheduler_database_unreachable", error=str(exc))
        except Exception as exc:  # a follower keeps trying, whatever went wrong
            logger.warning("scheduler_lock_failed", error=_describe(exc))
        return None

    async def _lead(self, lock: LeaderLock, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not await lock.held():
                return
            now = self.clock()
            for job in self.jobs:
                await self._start_if_due(job, now)
            wake = min(job.schedule.next_due(now) for job in self.jobs) if self.jobs else None
            delay = self.settings.scheduler_tick_seconds
            if wake is not None:
                delay = min(delay, max((wake - self.clock()).total_seconds(), 0.0))
            await _sleep_until_stopped(stop, delay)

    async def _start_if_due(self, job: Job, now: datetime) -> None:
        due = job.schedule.latest_due(now)
        if self._claimed.get(job.name) == due or job.name in self._in_flight:
            # Already claimed by this process, or still running: a due time that comes while
            # the previous run is going waits for it to end (and is dropped if a later one
            # has come by then) — never two runs of a job at once, never a queue.
            return
        async with self.database.sessionmaker() as session, session.begin():
            run_id = await repository.claim(
                session, job=job.name, scheduled_for=due, runner=self.name, now=self.clock()
            )
        self._claimed[job.name] = due
        if run_id is None:
            return
        task = asyncio.create_task(self._execute(job, due, run_id), name=f"job:{job.name}")
        self._in_flight[job.name] = task
        task.add_done_callback(lambda _: self._in_flight.pop(job.name, None))

    async def _execute(self, job: Job, due: datetime, run_id: UUID) -> None:
        """Run one claimed run to its recorded outcome."""
        log = logger.bind(job=job.name, scheduled_for=due.isoformat(), run_id=str(run_id))
        started = time.monotonic()
        failures: list[str] = []

        def failed(state: RetryCallState) -> None:
            error = _outcome_error(state) or "unknown"
            failures.append(error)
            log.warning("job_attempt_failed", attempt=state.attempt_number, error=error)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(job.attempts),
            wait=wait_exponential_jitter(
                multiplier=job.backoff_seconds,
                max=job.backoff_max_seconds,
                jitter=job.backoff_seconds,
            ),
            before_sleep=failed,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    if number > 1:
                        await self._record_attempt(run_id, number, failures[-1])
                    await self._attempt(job, due)
        except asyncio.CancelledError:
            await asyncio.shield(
                self._finish(run_id, started, JobRunStatus.FAILED, repository.INTERRUPTED)
            )
            raise
        except Exception as exc:  # every failure is recorded; none stops the loop
            log.error("job_failed", error=_describe(exc), attempts=job.attempts)
            await self._finish(run_id, started, JobRunStatus.FAILED, _describe(exc))
        else:
            log.info("job_succeeded", duration_ms=_elapsed_ms(started))
            # A run that recovered keeps its last failure: worth seeing when it recurs.
            last_failure = failures[-1] if failures else None
            await self._finish(run_id, started, JobRunStatus.SUCCEEDED, last_failure)

    async def _attempt(self, job: Job, due: datetime) -> None:
        async with (
            asyncio.timeout(job.timeout.total_seconds()),
            self.database.sessionmaker() as session,
            session.begin(),
        ):
            await job.run(session, due)

    async def _record_attempt(self, run_id: UUID, number: int, error: str) -> None:
        async with self.database.sessionmaker() as session, session.begin():
            await repository.record_attempt(session, run_id, attempt=number, error=error)

    async def _finish(
        self, run_id: UUID, started: float, status: JobRunStatus, error: str | None
    ) -> None:
        try:
            async with self.database.sessionmaker() as session, session.begin():
                await repository.finish(
                    session,
                    run_id,
                    status=status,
                    finished_at=self.clock(),
                    duration_ms=_elapsed_ms(started),
                    error=error,
                )
        except Exception as exc:  # the run stays "running"; the next leader marks it failed
            logger.error("job_run_not_recorded", run_id=str(run_id), error=_describe(exc))

    async def _abandon_orphaned_runs(self) -> None:
        async with self.database.sessionmaker() as session, session.begin():
            count = await repository.abandon_running(session, now=self.clock())
        if count:
            logger.warning("scheduler_abandoned_runs", count=count)

    async def _stop_in_flight(self) -> None:
        """Let running jobs finish for a grace period, then cancel (and record) the rest."""
        tasks = list(self._in_flight.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def _sleep_until_stopped(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def _outcome_error(state: RetryCallState) -> str | None:
    if state.outcome is None:
        return None
    exc = state.outcome.exception()
    return _describe(exc) if exc is not None else None


def _describe(exc: BaseException) -> str:
    # The type and message only: a traceback's local values could hold personal data.
    return f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_LENGTH]


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _utc_now() -> datetime:
    return datetime.now(UTC)
