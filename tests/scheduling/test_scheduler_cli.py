"""``mosaic scheduler``: the jobs table, a scheduler process, and its recorded runs."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from typer.testing import CliRunner

from mosaic.cli import app
from mosaic.core.settings import Settings
from mosaic.scheduling.jobs import scheduled_jobs
from tests.processes import MOSAIC, mosaic_env, run_mosaic, scratch_app_role, scratch_dir


def test_scheduler_jobs_lists_every_job_with_its_schedule() -> None:
    result = CliRunner().invoke(app, ["scheduler", "jobs"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [job.name for job in scheduled_jobs(Settings())]
    assert "every 0:15:00" in lines[0]
    assert " next 20" in lines[0]


def test_a_scheduler_process_runs_due_jobs_and_stops_cleanly_on_sigterm(
    fresh_external_database: str,
) -> None:
    with scratch_dir() as workdir, scratch_app_role(fresh_external_database) as role:
        env = mosaic_env(
            workdir / "data",
            MOSAIC_DATABASE_URL=fresh_external_database,
            MOSAIC_DATABASE_APP_ROLE=role,
        )
        log_path = workdir / "scheduler.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*MOSAIC, "scheduler"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            # Every job's latest due time is unclaimed in a fresh database: all run at once.
            _wait_for(
                log_path, "job_succeeded", count=len(scheduled_jobs(Settings())), process=process
            )
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0, log_path.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        assert "scheduler_stopped" in log_path.read_text()

        listed = run_mosaic("scheduler", "runs", "--limit", "100", env=env)

    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert sorted(line.split()[1] for line in lines) == sorted(
        job.name for job in scheduled_jobs(Settings())
    )
    assert all(" succeeded " in line for line in lines)


def _wait_for(log_path: Path, text: str, *, count: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while log_path.read_text(errors="replace").count(text) < count:
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{text!r} x{count} never logged:\n{log_path.read_text()}")
        time.sleep(0.1)
