"""The scheduler against the real database: one leader, each due run once, retries, failover."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.core.database import DatabaseLocation
from mosaic.core.ids import new_id
from mosaic.core.settings import Settings
from mosaic.models import JobRun, JobRunStatus
from mosaic.scheduling.job import Job
from mosaic.scheduling.jobs import scheduled_jobs
from mosaic.scheduling.repository import INTERRUPTED
from mosaic.scheduling.runner import scheduler_running
from mosaic.scheduling.schedules import Every
from tests.scheduling.conftest import RunsOf, Schedulers, eventually, job_name


def recording(calls: list[datetime]) -> Job:
    async def run(session: AsyncSession, now: datetime) -> None:
        calls.append(now)

    return Job(job_name(), Every(seconds=1), run)


async def test_two_schedulers_run_each_due_time_exactly_once(
    schedulers: Schedulers, runs_of: RunsOf
) -> None:
    calls: list[datetime] = []
    job = recording(calls)
    schedulers.start([job])
    schedulers.start([job])

    async def three_runs() -> bool:
        return len(await runs_of(job.name)) >= 3

    await eventually(three_runs)
    await schedulers.stop_all()

    runs = await runs_of(job.name)
    assert len(calls) == len(set(calls)) == len(runs)
    assert sorted(calls) == [run.scheduled_for for run in runs]
    assert {run.status for run in runs} == {JobRunStatus.SUCCEEDED}
    # Only the leader ran anything.
    assert len({run.runner for run in runs}) == 1
    assert all(run.duration_ms is not None and run.finished_at is not None for run in runs)


async def test_a_follower_takes_over_when_the_leader_dies(
    schedulers: Schedulers, runs_of: RunsOf
) -> None:
    calls: list[datetime] = []
    job = recording(calls)
    _, leader = schedulers.start([job])

    async def ran(count: int) -> bool:
        return len(await runs_of(job.name)) >= count

    await eventually(lambda: ran(1))
    schedulers.start([job])
    await asyncio.sleep(1.5)
    first_runner = {run.runner for run in await runs_of(job.name)}
    assert len(first_runner) == 1

    leader.cancel()  # the leader's process ends: its lock connection closes with it
    before = len(await runs_of(job.name))
    await eventually(lambda: ran(before + 2))

    runners = [run.runner for run in await runs_of(job.name)]
    assert len(set(runners)) == 2
    assert runners[-1] not in first_runner
    assert len(calls) == len(set(calls))


async def test_a_failing_job_is_retried_then_recorded_failed(
    schedulers: Schedulers, runs_of: RunsOf
) -> None:
    attempts: list[datetime] = []

    async def broken(session: AsyncSession, now: datetime) -> None:
        attempts.append(now)
        raise RuntimeError(f"source unreachable (attempt {len(attempts)})")

    job = Job(job_name(), Every(hours=1), broken, attempts=3, backoff_seconds=0.01)
    schedulers.start([job])

    async def finished() -> bool:
        runs = await runs_of(job.name)
        return bool(runs) and runs[0].status is not JobRunStatus.RUNNING

    await eventually(finished)

    [run] = await runs_of(job.name)
    assert run.status is JobRunStatus.FAILED
    assert run.attempt == 3
    assert run.error == "RuntimeError: source unreachable (attempt 3)"
    assert len(attempts) == 3
    # Every attempt ran for the same due time: the start of the current hour.
    assert set(attempts) == {run.scheduled_for}


async def test_a_job_that_recovers_on_a_retry_succeeds_and_keeps_its_attempt_count(
    schedulers: Schedulers, runs_of: RunsOf, owner_sessions: async_sessionmaker[AsyncSession]
) -> None:
    attempts: list[datetime] = []
    marker = new_id()

    async def flaky(session: AsyncSession, now: datetime) -> None:
        attempts.append(now)
        # Writes before failing: a failed attempt's transaction must be rolled back.
        session.add(
            JobRun(
                id=new_id() if len(attempts) < 2 else marker,
                job=f"marker-{marker}-{len(attempts)}",
                scheduled_for=now,
                status=JobRunStatus.SUCCEEDED,
                started_at=now,
                runner="test",
            )
        )
        await session.flush()
        if len(attempts) < 2:
            raise ConnectionResetError("connection reset by peer")

    job = Job(job_name(), Every(hours=1), flaky, attempts=3, backoff_seconds=0.01)
    schedulers.start([job])

    async def finished() -> bool:
        runs = await runs_of(job.name)
        return bool(runs) and runs[0].status is not JobRunStatus.RUNNING

    await eventually(finished)

    [run] = await runs_of(job.name)
    assert run.status is JobRunStatus.SUCCEEDED
    assert run.attempt == 2
    assert run.error == "ConnectionResetError: connection reset by peer"
    async with owner_sessions() as session:
        markers = (
            await session.scalars(select(JobRun.job).where(JobRun.job.like(f"marker-{marker}-%")))
        ).all()
    assert markers == [f"marker-{marker}-2"]


async def test_a_new_leader_marks_runs_left_running_as_failed(
    schedulers: Schedulers, runs_of: RunsOf, owner_sessions: async_sessionmaker[AsyncSession]
) -> None:
    name = job_name()
    async with owner_sessions() as session, session.begin():
        session.add(
            JobRun(
                job=name,
                scheduled_for=datetime(2026, 1, 1, tzinfo=UTC),
                status=JobRunStatus.RUNNING,
                started_at=datetime(2026, 1, 1, tzinfo=UTC),
                runner="a-dead-leader",
            )
        )
    calls: list[datetime] = []
    schedulers.start([recording(calls)])

    async def abandoned() -> bool:
        runs = await runs_of(name)
        return runs[0].status is JobRunStatus.FAILED

    await eventually(abandoned)

    [run] = await runs_of(name)
    assert run.error == INTERRUPTED
    assert run.finished_at is not None


async def test_a_stopped_scheduler_releases_the_leadership(
    schedulers: Schedulers, runs_of: RunsOf
) -> None:
    calls: list[datetime] = []
    job = recording(calls)
    stop, first = schedulers.start([job])
    await eventually(lambda: _has_runs(runs_of, job.name))
    stop.set()
    await asyncio.wait_for(first, timeout=15)
    leader_before = {run.runner for run in await runs_of(job.name)}

    schedulers.start([job])
    before = len(await runs_of(job.name))

    async def second_leads() -> bool:
        runs = await runs_of(job.name)
        return len(runs) > before and runs[-1].runner not in leader_before

    await eventually(second_leads)


async def _has_runs(runs_of: RunsOf, name: str) -> bool:
    return bool(await runs_of(name))


async def test_a_leader_whose_connection_is_cut_steps_down_and_runs_stay_unique(
    schedulers: Schedulers,
    runs_of: RunsOf,
    owner_sessions: async_sessionmaker[AsyncSession],
    lock_key: int,
) -> None:
    calls: list[datetime] = []
    job = recording(calls)
    schedulers.start([job])
    schedulers.start([job])
    await eventually(lambda: _has_runs(runs_of, job.name))

    # An administrator (or a failover) ends the leader's database session: its lock goes.
    async with owner_sessions() as session, session.begin():
        terminated = await session.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_locks "
                "WHERE locktype = 'advisory' AND granted "
                "AND ((classid::bigint << 32) | objid::bigint) = :key"
            ),
            {"key": lock_key},
        )
    assert terminated == 1
    before = len(await runs_of(job.name))

    async def kept_running() -> bool:
        return len(await runs_of(job.name)) >= before + 2

    await eventually(kept_running)
    await schedulers.stop_all()

    runs = await runs_of(job.name)
    assert len(calls) == len(set(calls)) == len(runs)
    assert {run.status for run in runs} == {JobRunStatus.SUCCEEDED}


async def test_serve_runs_a_scheduler_for_its_lifetime_unless_told_not_to(
    scheduler_settings: Settings, location: DatabaseLocation, runs_of: RunsOf
) -> None:
    off = scheduler_settings.model_copy(
        update={
            "scheduler": scheduler_settings.scheduler.model_copy(
                update={"scheduler_in_serve": False}
            )
        }
    )
    async with scheduler_running(off, location) as task:
        assert task is None

    async with scheduler_running(scheduler_settings, location) as task:
        assert task is not None

        async def every_job_ran() -> bool:
            return all([await runs_of(job.name) for job in scheduled_jobs(Settings())])

        await eventually(every_job_ran)
    assert task.done()
    assert task.exception() is None
