"""A scheduled job: a name, when it is due, what it runs, and how hard to retry it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.scheduling.schedules import Schedule

# A job's work: one owner transaction (committed by the scheduler when it returns) and the
# due time it runs for, so a job computes "expired" against its schedule, not the wall clock.
JobFunction = Callable[[AsyncSession, datetime], Awaitable[None]]


@dataclass(frozen=True)
class Job:
    """One row of the jobs table (``mosaic.scheduling.jobs.scheduled_jobs``)."""

    name: str
    schedule: Schedule
    run: JobFunction
    # Attempts in all (the first one included); each in a fresh transaction.
    attempts: int = 3
    # Exponential backoff between attempts (base · 2ⁿ), plus up to one base of jitter, capped.
    backoff_seconds: float = 2.0
    backoff_max_seconds: float = 60.0
    # One attempt longer than this is cancelled and counts as a failure.
    timeout: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        if not 0 < len(self.name) <= 100:
            raise ValueError("A job name is 1 to 100 characters")
        if self.attempts < 1:
            raise ValueError("A job makes at least one attempt")
