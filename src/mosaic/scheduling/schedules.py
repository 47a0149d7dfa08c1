"""When a job is due: cron expressions (via cronsim) and fixed intervals, both in UTC.

A schedule answers two questions about an instant ``now``: the latest due time at or before
it (the run to claim) and the first one after it (how long to sleep). Both are pure functions
of ``now``, so every scheduler process computes the same due times, and the ``job_runs``
unique key can tell them apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from cronsim import CronSim, CronSimError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Schedule(Protocol):
    """Due times of a job."""

    def latest_due(self, now: datetime) -> datetime:
        """The latest due time at or before ``now``."""
        ...

    def next_due(self, now: datetime) -> datetime:
        """The first due time strictly after ``now``."""
        ...


@dataclass(frozen=True)
class Cron:
    """A five-field cron expression (minute hour day month weekday), evaluated in UTC."""

    expression: str

    def __post_init__(self) -> None:
        try:
            CronSim(self.expression, _EPOCH)
        except CronSimError as exc:
            # Raised at import of the jobs table: a typo never reaches a running scheduler.
            raise ValueError(f"Invalid cron expression {self.expression!r}: {exc}") from exc

    def latest_due(self, now: datetime) -> datetime:
        # cronsim's reverse walk starts strictly before its instant: one second later makes
        # a due time equal to ``now`` (to the second) count as due.
        start = _utc(now).replace(microsecond=0) + timedelta(seconds=1)
        return next(CronSim(self.expression, start, reverse=True))

    def next_due(self, now: datetime) -> datetime:
        return next(CronSim(self.expression, _utc(now)))

    def __str__(self) -> str:
        return f"cron {self.expression}"


@dataclass(frozen=True)
class Every:
    """A fixed interval, aligned to the Unix epoch (``Every(minutes=10)`` runs at :00, :10, …).

    Alignment, rather than "ten minutes after the last run", keeps the due times the same in
    every process and across restarts.
    """

    hours: int = 0
    minutes: int = 0
    seconds: int = 0
    interval: timedelta = field(init=False)

    def __post_init__(self) -> None:
        interval = timedelta(hours=self.hours, minutes=self.minutes, seconds=self.seconds)
        if interval < timedelta(seconds=1):
            raise ValueError("An interval must be at least one second")
        object.__setattr__(self, "interval", interval)

    def latest_due(self, now: datetime) -> datetime:
        elapsed = _utc(now) - _EPOCH
        return _EPOCH + (elapsed // self.interval) * self.interval

    def next_due(self, now: datetime) -> datetime:
        return self.latest_due(now) + self.interval

    def __str__(self) -> str:
        return f"every {self.interval}"


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("Schedules work on time-zone aware datetimes")
    return moment.astimezone(UTC)
