"""How long, how hard and how often a benchmark run measures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REPORT = REPOSITORY_ROOT / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class RunOptions:
    """The knobs every benchmark shares."""

    duration_seconds: float = 10.0
    connections: int = 50
    rounds: int = 5
    warmup_seconds: float = 3.0
    load_threads: int = 2
    report_path: Path | None = DEFAULT_REPORT
    quick: bool = False

    @classmethod
    def quick_smoke(cls, report_path: Path | None) -> RunOptions:
        """A run that only proves the harness works; its figures mean nothing."""
        return cls(
            duration_seconds=2.0,
            connections=10,
            rounds=1,
            warmup_seconds=0.5,
            report_path=report_path,
            quick=True,
        )
