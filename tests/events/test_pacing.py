"""The round pacer, on a clock the test moves."""

from __future__ import annotations

import pytest

from mosaic.events.pacing import RoundPacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_first_round_starts_at_once() -> None:
    assert RoundPacer(0.02, clock=Clock()).delay() == 0.0


def test_after_a_short_round_the_next_waits_out_the_window_from_its_start() -> None:
    clock = Clock()
    pacer = RoundPacer(0.02, clock=clock)
    started_at = pacer.start()
    clock.now += 0.005  # the round itself took 5 ms
    pacer.finished(started_at, full=False)

    assert pacer.delay() == pytest.approx(0.015)
    clock.now += 0.015
    assert pacer.delay() == 0.0


def test_after_a_quiet_spell_longer_than_the_window_a_round_starts_at_once() -> None:
    clock = Clock()
    pacer = RoundPacer(0.02, clock=clock)
    pacer.finished(pacer.start(), full=False)
    clock.now += 3.0

    assert pacer.delay() == 0.0


def test_after_a_full_round_a_backlog_is_taken_at_once() -> None:
    clock = Clock()
    pacer = RoundPacer(0.02, clock=clock)
    pacer.finished(pacer.start(), full=False)
    pacer.finished(pacer.start(), full=True)

    assert pacer.delay() == 0.0


def test_a_window_of_zero_never_waits() -> None:
    clock = Clock()
    pacer = RoundPacer(0.0, clock=clock)
    pacer.finished(pacer.start(), full=False)

    assert pacer.delay() == 0.0


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="not negative"):
        RoundPacer(-1.0)
