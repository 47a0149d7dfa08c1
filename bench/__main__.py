"""``python -m bench [NAME …]``: run benchmarks, print their tables, update docs/benchmarks.md."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import api, auth, brokers, event_drain, events, process, statements, stories
from bench.options import DEFAULT_REPORT, RunOptions
from bench.report import write_section
from bench.wrk import LoadGeneratorUnavailable

# Each benchmark measures, prints, and returns its Markdown section.
BENCHMARKS: dict[str, Callable[[RunOptions], str]] = {
    api.NAME: api.run,
    auth.NAME: auth.run,
    stories.NAME: stories.run,
    events.NAME: events.run,
    event_drain.NAME: event_drain.run,
    brokers.NAME: brokers.run,
    process.NAME: process.run,
    statements.NAME: statements.run,
}


def parse_options(argv: Sequence[str] | None = None) -> tuple[list[str], RunOptions]:
    """The benchmarks to run and how."""
    defaults = RunOptions()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        choices=[[], *BENCHMARKS],
        metavar="NAME",
        help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=defaults.duration_seconds,
        help="seconds per measured run (default: %(default)s)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=defaults.connections,
        help="concurrent connections (default: %(default)s)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=defaults.rounds,
        help="rounds; figures are medians over them (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=defaults.warmup_seconds,
        help="seconds of warm-up per target (default: %(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=defaults.load_threads,
        help="load generator threads (default: %(default)s)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="Markdown report to update (default: docs/benchmarks.md; none with --quick)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short smoke run; prints, and writes only to an explicit --output",
    )
    arguments = parser.parse_args(argv)
    names = list(arguments.names) or list(BENCHMARKS)
    if arguments.quick:
        return names, RunOptions.quick_smoke(report_path=arguments.output)
    return names, RunOptions(
        duration_seconds=arguments.duration,
        connections=arguments.connections,
        rounds=arguments.rounds,
        warmup_seconds=arguments.warmup,
        load_threads=arguments.threads,
        report_path=None if arguments.no_write else arguments.output or DEFAULT_REPORT,
    )


def main(argv: Sequence[str] | None = None) -> int:
    names, options = parse_options(argv)
    try:
        for name in names:
            print(f"== benchmark {name}", flush=True)
            section = BENCHMARKS[name](options)
            if options.report_path is not None:
                write_section(options.report_path, name, section)
                print(f"Wrote the {name} section of {options.report_path}")
    except LoadGeneratorUnavailable as exc:
        print(f"error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
