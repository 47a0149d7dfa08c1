"""Rounds spaced out under load, so that the relay and the PostgreSQL bus's claims carry batches.

Each relay round and each claim costs the same few statements whatever it carries. Woken by
every commit, they would run once per event under a steady stream of writes: the background
process then spends most of its CPU on rounds of one. A pacer holds the next round back until a
short window has passed since the last round that took something but not as much as it could
(it took everything there was): what arrives meanwhile is taken together. A round that found
nothing leaves the window where it was, so the first event after a quiet spell longer than the
window goes at once; after a full round (a backlog) the next starts at once too, so a backlog
drains as fast as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class RoundPacer:
    """When the next round may start; the caller reports each round's start and fullness."""

    def __init__(
        self, window_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if window_seconds < 0:
            raise ValueError("the window is not negative")
        self._window = window_seconds
        self._clock = clock
        self._short_round_at: float | None = None

    def delay(self) -> float:
        """Seconds to wait before the next round (0 to start at once)."""
        if self._short_round_at is None:
            return 0.0
        return max(0.0, self._short_round_at + self._window - self._clock())

    def start(self) -> float:
        """A round starts now: its start, for :meth:`finished`."""
        return self._clock()

    def finished(self, started_at: float, *, taken: int, limit: int) -> None:
        """The round started at ``started_at`` took ``taken`` of at most ``limit``."""
        if taken >= limit:
            self._short_round_at = None
        elif taken > 0:
            self._short_round_at = started_at
