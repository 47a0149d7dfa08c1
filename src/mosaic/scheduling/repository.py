"""The ``job_runs`` table: claiming a due run, recording its attempts and outcome, listing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.ids import new_id
from mosaic.core.pagination import inline_limit
from mosaic.models import JobRun, JobRunStatus

INTERRUPTED = "interrupted: the scheduler stopped or lost its leadership during the run"


async def claim(
    session: AsyncSession, *, job: str, scheduled_for: datetime, runner: str, now: datetime
) -> UUID | None:
    """Record the run of ``job`` for ``scheduled_for`` as started; None if already claimed."""
    run_id = new_id()
    inserted = await session.execute(
        insert(JobRun)
        .values(
            id=run_id,
            job=job,
            scheduled_for=scheduled_for,
            status=JobRunStatus.RUNNING,
            started_at=now,
            attempt=1,
            runner=runner,
        )
        .on_conflict_do_nothing(index_elements=[JobRun.job, JobRun.scheduled_for])
        .returning(JobRun.id)
    )
    return inserted.scalar_one_or_none()


async def record_attempt(session: AsyncSession, run_id: UUID, *, attempt: int, error: str) -> None:
    """A retry begins: the attempt number, and why the previous one failed."""
    await session.execute(
        update(JobRun).where(JobRun.id == run_id).values(attempt=attempt, error=error)
    )


async def finish(
    session: AsyncSession,
    run_id: UUID,
    *,
    status: JobRunStatus,
    finished_at: datetime,
    duration_ms: int,
    error: str | None,
) -> None:
    await session.execute(
        update(JobRun)
        .where(JobRun.id == run_id)
        .values(status=status, finished_at=finished_at, duration_ms=duration_ms, error=error)
    )


async def abandon_running(session: AsyncSession, *, now: datetime) -> int:
    """Mark runs left ``running`` by a previous leader as failed; how many there were.

    Called right after taking the leadership: only the leader runs jobs, so a run still
    marked running belongs to a leader that died.
    """
    result = await session.execute(
        update(JobRun)
        .where(JobRun.status == JobRunStatus.RUNNING)
        .values(status=JobRunStatus.FAILED, finished_at=now, error=INTERRUPTED)
        .returning(JobRun.id)
    )
    return len(result.all())


async def latest_runs(
    session: AsyncSession, *, job: str | None = None, limit: int = 20
) -> Sequence[JobRun]:
    """The most recent runs, newest first, of one job or of all."""
    statement = (
        select(JobRun)
        .order_by(JobRun.started_at.desc(), JobRun.id.desc())
        .limit(inline_limit(limit))
    )
    if job is not None:
        statement = statement.where(JobRun.job == job)
    return (await session.scalars(statement)).all()
