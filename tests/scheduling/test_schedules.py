"""Due-time computation: cron expressions and epoch-aligned intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mosaic.core.settings import Settings
from mosaic.scheduling.jobs import scheduled_jobs
from mosaic.scheduling.schedules import Cron, Every


def at(hour: int, minute: int, second: int = 0, microsecond: int = 0) -> datetime:
    return datetime(2026, 12, 6, hour, minute, second, microsecond, tzinfo=UTC)


def test_cron_latest_due_is_the_last_tick_at_or_before_now() -> None:
    every_five = Cron("*/5 * * * *")

    assert every_five.latest_due(at(10, 7, 30)) == at(10, 5)
    assert every_five.latest_due(at(10, 5)) == at(10, 5)
    assert every_five.latest_due(at(10, 4, 59, 999_999)) == at(10, 0)


def test_cron_next_due_is_strictly_after_now() -> None:
    every_five = Cron("*/5 * * * *")

    assert every_five.next_due(at(10, 5)) == at(10, 10)
    assert every_five.next_due(at(10, 7, 30)) == at(10, 10)


def test_daily_cron_crosses_midnight() -> None:
    nightly = Cron("41 3 * * *")

    assert nightly.latest_due(at(2, 0)) == at(3, 41) - timedelta(days=1)
    assert nightly.next_due(at(3, 41)) == at(3, 41) + timedelta(days=1)


def test_cron_is_evaluated_in_utc_whatever_the_offset_of_now() -> None:
    from zoneinfo import ZoneInfo

    paris = at(10, 7).astimezone(ZoneInfo("Europe/Paris"))

    assert Cron("0 * * * *").latest_due(paris) == at(10, 0)


def test_an_invalid_cron_expression_is_refused_when_declared() -> None:
    with pytest.raises(ValueError, match="Invalid cron expression"):
        Cron("every five minutes")


def test_intervals_are_aligned_to_the_epoch() -> None:
    ten = Every(minutes=10)

    assert ten.latest_due(at(10, 17, 3)) == at(10, 10)
    assert ten.latest_due(at(10, 20)) == at(10, 20)
    assert ten.next_due(at(10, 20)) == at(10, 30)
    assert Every(seconds=1).latest_due(at(10, 0, 5, 500_000)) == at(10, 0, 5)


def test_an_interval_under_a_second_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one second"):
        Every()


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="time-zone aware"):
        Every(minutes=1).latest_due(datetime(2026, 12, 6, 10, 0))  # noqa: DTZ001


def test_the_jobs_table_has_unique_names() -> None:
    names = [job.name for job in scheduled_jobs(Settings())]

    assert len(names) == len(set(names))
    assert "core.purge_idempotency_records" in names
