"""The embedded cluster: start, reuse, exclusive ownership, attaching, and clean stops."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from filelock import FileLock
from sqlalchemy.engine import URL

from mosaic.core.embedded_postgres import (
    EmbeddedPostgres,
    EmbeddedPostgresAlreadyRunning,
    running_postmaster,
)
from tests.processes import postgres_processes, scratch_dir, wait_until_gone


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with scratch_dir() as directory:
        yield directory / "data"


def fetch(url: URL, query: str) -> Any:
    """The first value ``query`` returns; ``query`` may hold several statements."""

    async def run() -> Any:
        connection = await asyncpg.connect(
            url.set(drivername="postgresql").render_as_string(hide_password=False)
        )
        try:
            *setup, last = query.split(";")
            for statement in setup:
                await connection.execute(statement)
            return await connection.fetchval(last)
        finally:
            await connection.close()

    return asyncio.run(run())


def assert_stopped(data_dir: Path) -> None:
    assert wait_until_gone(postgres_processes(data_dir), timeout=5) == []
    assert running_postmaster(data_dir) is None


def test_the_cluster_keeps_its_data_across_restarts_and_stops_cleanly(data_dir: Path) -> None:
    first = EmbeddedPostgres(data_dir)
    url = first.start()
    assert fetch(url, "SELECT current_database()") == "mosaic"
    fetch(url, "CREATE TABLE kept (value text); INSERT INTO kept VALUES ('still here')")
    first.stop()
    assert_stopped(data_dir)

    second = EmbeddedPostgres(data_dir)
    try:
        assert fetch(second.start(), "SELECT value FROM kept") == "still here"
    finally:
        second.stop()
    assert_stopped(data_dir)


def test_a_second_owner_is_refused_and_may_attach_instead(data_dir: Path) -> None:
    owner = EmbeddedPostgres(data_dir)
    owner.start()
    try:
        postmaster = running_postmaster(data_dir)
        with pytest.raises(
            EmbeddedPostgresAlreadyRunning,
            match=r"Another Mosaic process \(pid \d+\) is already using",
        ):
            EmbeddedPostgres(data_dir).start()

        attached = EmbeddedPostgres(data_dir).attach(wait_seconds=5)

        assert attached == owner.url()
        assert fetch(attached, "SELECT 1") == 1
        assert running_postmaster(data_dir) == postmaster
    finally:
        owner.stop()
    assert_stopped(data_dir)


def test_attach_gives_up_on_an_owner_whose_cluster_never_becomes_ready(data_dir: Path) -> None:
    data_dir.mkdir()
    with (
        FileLock(data_dir / "mosaic.lock"),
        pytest.raises(EmbeddedPostgresAlreadyRunning, match=r"did not become ready within 0\.5 s"),
    ):
        EmbeddedPostgres(data_dir).attach(wait_seconds=0.5)


def test_a_cluster_left_running_by_a_killed_owner_is_adopted_and_stopped(
    data_dir: Path,
) -> None:
    owner_script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from mosaic.core.embedded_postgres import EmbeddedPostgres
        EmbeddedPostgres(Path({str(data_dir)!r})).start()
        print("ready", file=sys.stdout, flush=True)
        time.sleep(600)
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", owner_script],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert owner.stdout is not None
        # structlog writes to stdout too: read up to the line the script prints when ready.
        assert any(line.strip() == "ready" for line in iter(owner.stdout.readline, ""))
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
    left_running = running_postmaster(data_dir)
    assert left_running is not None

    adopter = EmbeddedPostgres(data_dir)
    try:
        url = adopter.start()
        assert running_postmaster(data_dir) == left_running
        assert fetch(url, "SELECT 1") == 1
    finally:
        adopter.stop()
    assert_stopped(data_dir)
