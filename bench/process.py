"""What a Mosaic process pays for being a process: starting, and collecting its garbage.

- **Start-up**: ``mosaic --help`` run as a new process, with the bytecode ``make install``
  compiles and without it (``PYTHONPYCACHEPREFIX`` pointing at an empty directory, as a process
  finds things when ``PYTHONDONTWRITEBYTECODE`` is set and nothing was compiled).
- **Garbage collection**: in a new process that has imported Mosaic and built its application
  (no database is reached), how many objects the cyclic collector tracks and how long a full
  collection takes, before and after :func:`gc.freeze` (what ``mosaic serve``'s processes call
  once their start-up is over).

``python -m bench process`` runs it; ``run(options)`` has the harness's shape.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.machine import measured_on
from bench.options import REPOSITORY_ROOT, RunOptions
from bench.report import markdown_table, text_table

NAME = "process"
MOSAIC = Path(sys.executable).parent / "mosaic"

# Run in a child: the collector's figures of a process holding Mosaic's application.
_COLLECTION = """
import gc, json, statistics, time
from mosaic.app import create_app
from mosaic.core.database import DatabaseLocation
from mosaic.core.settings import Settings

settings = Settings()
nowhere = "postgresql+asyncpg://mosaic@/mosaic?host=/nonexistent"
app = create_app(settings, DatabaseLocation.for_owner(nowhere, settings.database))


def full_collection_ms():
    started = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - started) * 1000


gc.collect()
tracked = len(gc.get_objects())
before = statistics.median(full_collection_ms() for _ in range(5))
gc.freeze()
after = statistics.median(full_collection_ms() for _ in range(5))
print(json.dumps({"tracked": tracked, "before_ms": before, "after_ms": after}))
"""


@dataclass(frozen=True)
class Start:
    wall_seconds: float
    cpu_seconds: float


@dataclass(frozen=True)
class Collection:
    tracked: int
    before_ms: float
    after_ms: float


@dataclass(frozen=True)
class Figures:
    compiled: list[Start]
    from_source: list[Start]
    collections: list[Collection]


def _start(environment: dict[str, str]) -> Start:
    """One ``mosaic --help``: its wall time and the CPU it used."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [str(MOSAIC), "--help"], env=environment, check=True, capture_output=True, timeout=120
    )
    wall = time.perf_counter() - started
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (now.ru_utime - used.ru_utime) + (now.ru_stime - used.ru_stime)
    return Start(wall_seconds=wall, cpu_seconds=cpu)


def _collection() -> Collection:
    completed = subprocess.run(
        [sys.executable, "-c", _COLLECTION],
        cwd=REPOSITORY_ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    return Collection(figures["tracked"], figures["before_ms"], figures["after_ms"])


def measure(rounds: int) -> Figures:
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    compiled, from_source, collections = [], [], []
    with tempfile.TemporaryDirectory(prefix="mosaic-bench-pycache-") as empty:
        without = {**environment, "PYTHONPYCACHEPREFIX": empty}
        _start(environment)  # warm the file cache
        for _ in range(max(1, rounds)):
            compiled.append(_start(environment))
            from_source.append(_start(without))
            collections.append(_collection())
    return Figures(compiled, from_source, collections)


HEADERS = ["measure", "median"]


def _rows(figures: Figures) -> list[list[str]]:
    def seconds(starts: list[Start], field: str) -> str:
        return f"{statistics.median(getattr(start, field) for start in starts):.2f} s"

    def collection(field: str) -> float:
        return float(statistics.median(getattr(c, field) for c in figures.collections))

    return [
        ["`mosaic --help`, compiled bytecode: wall", seconds(figures.compiled, "wall_seconds")],
        ["`mosaic --help`, compiled bytecode: CPU", seconds(figures.compiled, "cpu_seconds")],
        ["`mosaic --help`, from source: wall", seconds(figures.from_source, "wall_seconds")],
        ["`mosaic --help`, from source: CPU", seconds(figures.from_source, "cpu_seconds")],
        ["objects the collector tracks once the app is built", f"{collection('tracked'):,.0f}"],
        ["a full collection, before `gc.freeze()`", f"{collection('before_ms'):.1f} ms"],
        ["a full collection, after `gc.freeze()`", f"{collection('after_ms'):.2f} ms"],
    ]


def markdown_section(figures: Figures, *, measured: str) -> str:
    return (
        "## Process start-up and garbage collection\n\n"
        f"{measured}; medians of {len(figures.compiled)} round(s). Reproduce with "
        "`python -m bench process`.\n\n"
        f"{markdown_table(HEADERS, _rows(figures))}\n\n"
        "Start-up is `mosaic --help` as a new process with `PYTHONDONTWRITEBYTECODE` set, with "
        "the bytecode `make install` compiles and without any (every module compiled from "
        "source, as on a machine that sets the variable and installed without compiling). The "
        "collector's figures come from a new process that has imported Mosaic and built its "
        "application: a full collection walks every tracked object, and an HTTP worker "
        "otherwise ran one every ~1,500 requests; after `gc.freeze()` it walks only what was "
        "allocated since (here nothing, so the figure is the floor; a serving worker's is "
        "~10 ms, see the stories section).\n"
    )


def run(options: RunOptions) -> str:
    """Measure, print, and return the Markdown section."""
    figures = measure(1 if options.quick else options.rounds)
    print(text_table(HEADERS, _rows(figures)))
    return markdown_section(figures, measured=measured_on())
