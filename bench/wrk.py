"""The load generator: wrk (C, event-driven) from Debian's packages, and its output parser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.cpu import children_seconds, cpu_usage
from bench.stats import Measurement

RESULT_MARKER = "BENCH_WRK_JSON "

# wrk calls done() once, after the run; percentiles come from its full latency histogram.
# Non-2xx/3xx answers are counted in summary.errors.status, so a broken target cannot pass
# for a fast one.
DONE_SCRIPT = f"""
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{RESULT_MARKER}{{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,'
      .. '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d}}\\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


class LoadGeneratorUnavailable(RuntimeError):
    """wrk is missing and this process may not install it."""


def ensure_wrk() -> str:
    """The path of wrk, installing Debian's package first when running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise LoadGeneratorUnavailable(
            "wrk is not installed. Install it with `sudo apt-get install -y wrk` "
            "(Debian/Ubuntu) and run the benchmark again."
        )
    if shutil.which("apt-get") is None:
        raise LoadGeneratorUnavailable("wrk is not installed and apt-get is not available.")
    print("Installing wrk from the distribution's packages…", flush=True)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "wrk"]
    if subprocess.run(install, env=environment, check=False).returncode != 0:
        # A fresh image has no package lists yet.
        subprocess.run(["apt-get", "update"], env=environment, check=True)
        subprocess.run(install, env=environment, check=True)
    found = shutil.which("wrk")
    if not found:
        raise LoadGeneratorUnavailable("apt-get reported success but wrk is not on PATH.")
    return found


def wrk_version(wrk: str) -> str:
    """wrk's banner, e.g. ``wrk 4.1.0 [epoll]``."""
    # `wrk -v` prints its banner and exits non-zero by design.
    completed = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    banner = (completed.stdout or completed.stderr).strip().splitlines()
    return banner[0].split(" Copyright")[0].strip() if banner else "wrk (unknown version)"


@dataclass(frozen=True)
class LoadSpec:
    """One wrk run: what to hit, how hard, for how long."""

    url: str
    connections: int
    threads: int
    duration_seconds: float
    headers: Mapping[str, str] | None = None
    # A write target: wrk sends this method and body on every request.
    method: str = "GET"
    body: str | None = None


def run_wrk(
    wrk: str, spec: LoadSpec, *, meters: Mapping[str, Callable[[], float]] | None = None
) -> Measurement:
    """Run wrk once; CPU shares cover wrk itself (``load generator``) and ``meters``."""
    with tempfile.TemporaryDirectory(prefix="mosaic-bench-") as scratch:
        script = Path(scratch) / "report.lua"
        script.write_text(_request_script(spec) + DONE_SCRIPT)
        command = [
            wrk,
            f"-t{spec.threads}",
            f"-c{spec.connections}",
            f"-d{max(1, round(spec.duration_seconds))}s",
            # Generous: a slow answer must show up in the percentiles, not vanish as a timeout.
            "--timeout=10s",
            f"-s{script}",
        ]
        for name, value in (spec.headers or {}).items():
            command += ["-H", f"{name}: {value}"]
        command.append(spec.url)
        all_meters = {"load generator": children_seconds, **(meters or {})}
        with cpu_usage(all_meters) as cpu:
            completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    return parse_wrk_output(completed.stdout, cpu_percent=cpu)


def _request_script(spec: LoadSpec) -> str:
    """Lua setting wrk's method and body (headers go on the command line)."""
    if spec.method == "GET" and spec.body is None:
        return ""
    lines = [f"wrk.method = {json.dumps(spec.method)}"]
    if spec.body is not None:
        # A JSON string literal is a valid Lua string literal for the ASCII bodies we send.
        lines.append(f"wrk.body = {json.dumps(spec.body)}")
    return "\n".join(lines) + "\n"


def parse_wrk_output(output: str, *, cpu_percent: dict[str, float] | None = None) -> Measurement:
    """The measurement in the line our done() hook wrote among wrk's own summary."""
    for line in output.splitlines():
        if line.startswith(RESULT_MARKER):
            raw = json.loads(line.removeprefix(RESULT_MARKER))
            break
    else:
        raise ValueError(f"wrk printed no {RESULT_MARKER.strip()} line:\n{output}")
    errors = sum(raw[kind] for kind in ("connect", "read", "write", "status", "timeout"))
    seconds = raw["duration_us"] / 1e6
    return Measurement(
        operations=raw["requests"],
        per_second=raw["requests"] / seconds if seconds > 0 else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p95_ms=raw["p95_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=errors,
        cpu_percent=cpu_percent,
    )
