"""CPU time of the processes under test, read from /proc (Linux), to show where cores went."""

from __future__ import annotations

import os
import resource
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from time import perf_counter

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; everything after its ')' is numeric.
    return raw[raw.rindex(")") + 2 :].split()


def process_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (not its children)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # After the name: state, ppid, …; utime and stime are stat fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


def tree_seconds(root_pid: int) -> float:
    """CPU seconds of ``root_pid``, its reaped children, and its live direct children.

    Fits PostgreSQL: the postmaster forks every backend directly.
    """
    fields = _stat_fields(root_pid)
    if fields is None:
        return 0.0
    total = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        child = _stat_fields(int(entry.name))
        if child is not None and int(child[1]) == root_pid:
            total += int(child[11]) + int(child[12])
    return total / _TICKS_PER_SECOND


def server_seconds(root_pid: int, *, excluding: int) -> float:
    """CPU seconds of a server and its worker processes (``tree_seconds``), less the
    ``excluding`` child's own (an embedded PostgreSQL's postmaster, measured on its own)."""
    total = tree_seconds(root_pid)
    if _is_child(excluding, root_pid):
        total -= process_seconds(excluding)
    return total


def _is_child(pid: int, parent: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and int(fields[1]) == parent


def children_seconds() -> float:
    """CPU seconds of this process's reaped children (a finished ``wrk``)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_seconds() -> float:
    """CPU seconds of this process (the asyncpg baseline runs here)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def cpu_usage(meters: Mapping[str, Callable[[], float]]) -> Iterator[dict[str, float]]:
    """Fill the yielded dict, when the block ends, with each meter's share of one core (%)."""
    before = {role: meter() for role, meter in meters.items()}
    started = perf_counter()
    shares: dict[str, float] = {}
    yield shares
    elapsed = perf_counter() - started
    for role, meter in meters.items():
        shares[role] = 100 * (meter() - before[role]) / elapsed if elapsed > 0 else 0.0
