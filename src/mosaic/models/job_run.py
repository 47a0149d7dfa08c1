"""One run of a scheduled job: claimed once per (job, scheduled time), then its outcome.

A platform table (no tenant): only the scheduler, connected as the database owner, reads and
writes it; the application role has no grant on it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.models.base import Base, IdMixin, str_enum


class JobRunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class JobRun(IdMixin, Base):
    __tablename__ = "job_runs"
    __table_args__ = (
        # The claim: inserting this pair twice fails, so a due run starts exactly once even
        # when two schedulers (a leader and one that just lost the lock) both see it due.
        UniqueConstraint("job", "scheduled_for"),
        Index(None, "started_at"),
    )

    job: Mapped[str] = mapped_column(String(100))
    scheduled_for: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[JobRunStatus] = mapped_column(str_enum(JobRunStatus, "job_run_status"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    # Attempts made so far (1 on the first try); retries raise it before the run is final.
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    # The last attempt's exception, type and message; never a traceback with local values.
    error: Mapped[str | None] = mapped_column(Text)
    # Which scheduler process ran it (host:pid), for an operator reading the history.
    runner: Mapped[str] = mapped_column(String(200))
