"""The round pacer, on a clock the test moves."""

from __future__ import annotations

import pytest

from mosaic.events.pacing import RoundPacer

WINDOW = 0.02
LIMIT = 10


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def paced() -> tuple[RoundPacer, Clock]:
    clock = Clock()
    return RoundPacer(WINDOW, clock=clock), clock


def test_the_first_round_starts_at_once() -> None:
    pacer, _ = paced()

    assert pacer.delay() == 0.0


def test_after_a_short_round_the_next_waits_out_the_window_from_its_start() -> None:
    pacer, clock = paced()
    started_at = pacer.start()
    clock.now += 0.005  # the round itself took 5 ms
    pacer.finished(started_at, taken=3, limit=LIMIT)

    assert pacer.delay() == pytest.approx(0.015)
    clock.now += 0.015
    assert pacer.delay() == 0.0


def test_a_round_that_found_nothing_leaves_the_window_where_it_was() -> None:
    pacer, clock = paced()
    pacer.finished(pacer.start(), taken=3, limit=LIMIT)
    clock.now += WINDOW
    # The round the window allowed found nothing: the next event, later, goes at once.
    pacer.finished(pacer.start(), taken=0, limit=LIMIT)
    clock.now += 0.003

    assert pacer.delay() == 0.0


def test_after_a_quiet_spell_longer_than_the_window_a_round_starts_at_once() -> None:
    pacer, clock = paced()
    pacer.finished(pacer.start(), taken=1, limit=LIMIT)
    clock.now += 3.0

    assert pacer.delay() == 0.0


def test_after_a_full_round_a_backlog_is_taken_at_once() -> None:
    pacer, _ = paced()
    pacer.finished(pacer.start(), taken=1, limit=LIMIT)
    pacer.finished(pacer.start(), taken=LIMIT, limit=LIMIT)

    assert pacer.delay() == 0.0


def test_a_window_of_zero_never_waits() -> None:
    clock = Clock()
    pacer = RoundPacer(0.0, clock=clock)
    pacer.finished(pacer.start(), taken=1, limit=LIMIT)

    assert pacer.delay() == 0.0


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="not negative"):
        RoundPacer(-1.0)
