"""The ``mosaic`` command line: in-process where no database is needed, as processes otherwise."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from mosaic import __version__
from mosaic.cli import app
from mosaic.core.embedded_postgres import running_postmaster
from mosaic.core.settings import get_settings
from tests.processes import (
    mosaic_env,
    postgres_processes,
    run_mosaic,
    scratch_app_role,
    scratch_dir,
    serving,
    wait_until_gone,
)


@pytest.fixture
def workdir() -> Iterator[Path]:
    with scratch_dir() as directory:
        yield directory


@pytest.fixture
def data_dir(workdir: Path) -> Path:
    return workdir / "data"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CliRunner]:
    """An in-process runner with a clean Mosaic environment; logging restored afterwards."""
    for name in list(os.environ):
        if name.startswith("MOSAIC_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("MOSAIC_DATA_DIR", str(tmp_path / "data"))
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
    root.handlers[:] = handlers
    root.setLevel(level)


def assert_refused(result: Result, message: str) -> None:
    """Exit code 1 with ``message`` on stderr, and no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert message in result.stderr


def assert_process_refused(completed: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit code 1 with ``message`` on stderr, and no traceback."""
    assert completed.returncode == 1, completed
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr


def test_version_prints_the_package_version(cli: CliRunner) -> None:
    result = cli.invoke(app, ["version"])

    assert result.exit_code == 0
    assert result.stdout.strip() == __version__


@pytest.mark.parametrize(
    "slug", ["Smith-Family", "smith family", "smith_family", "", "a" * 64, "smïth"]
)
def test_tenants_create_rejects_an_invalid_slug_before_touching_the_database(
    cli: CliRunner, tmp_path: Path, slug: str
) -> None:
    result = cli.invoke(app, ["tenants", "create", "--slug", slug, "--name", "Smiths"])

    assert_refused(result, "use 1 to 63 lowercase letters, digits and hyphens")
    assert not (tmp_path / "data").exists()


def test_tenants_create_rejects_a_blank_name(cli: CliRunner) -> None:
    result = cli.invoke(app, ["tenants", "create", "--slug", "smiths", "--name", "   "])

    assert_refused(result, "Invalid --name")


def test_api_keys_create_rejects_an_unknown_scope(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(
        app, ["api-keys", "create", "--tenant", "smiths", "--name", "ci", "--scope", "root"]
    )

    assert_refused(result, "Invalid --scope: unknown scope; known scopes are ")
    assert "api-keys:read" in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    "expiry", ["next week", "2030-01-31T00:00:00", "2030-13-01T00:00:00Z", "31/01/2030"]
)
def test_api_keys_create_rejects_an_expiry_that_is_not_iso_8601_with_a_time_zone(
    cli: CliRunner, expiry: str
) -> None:
    result = cli.invoke(
        app,
        ["api-keys", "create", "--tenant", "smiths", "--name", "ci", "--expires-at", expiry],
    )

    assert_refused(result, "Invalid --expires-at")


@pytest.mark.parametrize("command", [["serve"], ["migrate"], ["tenants", "create"]])
def test_production_refuses_the_default_secret_key_and_a_missing_database_url(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("MOSAIC_ENV", "production")
    arguments = [*command, "--slug", "smiths", "--name", "S"] if "tenants" in command else command

    result = cli.invoke(app, arguments)

    assert_refused(result, "MOSAIC_SECRET_KEY must be set")
    assert "MOSAIC_DATABASE_URL must be set" in result.stderr


def test_an_unreachable_database_url_is_a_clear_error(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOSAIC_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/mosaic")

    result = cli.invoke(app, ["migrate"])

    assert_refused(result, "Cannot reach the database")


def test_commands_start_and_stop_the_embedded_cluster_when_nothing_runs(
    workdir: Path, data_dir: Path
) -> None:
    env = mosaic_env(data_dir)
    expiry = (datetime.now(UTC) + timedelta(days=30)).isoformat()

    tenant = run_mosaic("tenants", "create", "--slug", "smiths", "--name", "Smiths", env=env)
    assert tenant.returncode == 0, tenant.stderr
    assert json.loads(tenant.stdout)["slug"] == "smiths"
    assert postgres_processes(data_dir) == []

    key = run_mosaic(
        *("api-keys", "create", "--tenant", "smiths", "--name", "ci"),
        *("--scope", "tenant:read", "--expires-at", expiry),
        env=env,
    )
    assert key.returncode == 0, key.stderr
    created = json.loads(key.stdout)
    assert created["scopes"] == ["tenant:read"]
    assert datetime.fromisoformat(created["expires_at"]) == datetime.fromisoformat(expiry)
    assert created["key"]
    assert "it is not shown again" in key.stderr
    assert wait_until_gone(postgres_processes(data_dir)) == []


def test_commands_attach_to_the_cluster_of_a_running_serve(workdir: Path, data_dir: Path) -> None:
    env = mosaic_env(data_dir)
    with serving(data_dir, cwd=workdir) as server:
        postmaster = running_postmaster(data_dir)

        tenant = run_mosaic("tenants", "create", "--slug", "smiths", "--name", "Smiths", env=env)
        assert tenant.returncode == 0, tenant.stderr
        key = run_mosaic("api-keys", "create", "--tenant", "smiths", "--name", "ci", env=env)
        assert key.returncode == 0, key.stderr
        current = run_mosaic("migrate", "current", env=env)
        assert current.returncode == 0, current.stderr
        assert "(head)" in current.stdout

        answer = httpx.get(
            f"{server.base_url}/api/v1/tenant", headers={"X-API-Key": json.loads(key.stdout)["key"]}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["slug"] == "smiths"
        assert running_postmaster(data_dir) == postmaster
        assert server.stop() == 0, server.log()


def test_operator_mistakes_exit_1_with_a_message_and_no_traceback(
    workdir: Path, data_dir: Path
) -> None:
    env = mosaic_env(data_dir)
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    # Against a running server, so each command attaches instead of starting a cluster.
    with serving(data_dir, cwd=workdir) as server:
        first = run_mosaic("tenants", "create", "--slug", "smiths", "--name", "Smiths", env=env)
        assert first.returncode == 0, first.stderr

        assert_process_refused(
            run_mosaic("tenants", "create", "--slug", "smiths", "--name", "Again", env=env),
            "TENANT_SLUG_TAKEN",
        )
        assert_process_refused(
            run_mosaic("api-keys", "create", "--tenant", "nobody", "--name", "ci", env=env),
            "TENANT_NOT_FOUND",
        )
        assert_process_refused(
            run_mosaic(
                *("api-keys", "create", "--tenant", "smiths", "--name", "ci"),
                *("--expires-at", past),
                env=env,
            ),
            "expires_at must be in the future",
        )
        assert_process_refused(
            run_mosaic("migrate", "--revision", "no-such-revision", env=env), "Migration failed"
        )
        assert server.stop() == 0, server.log()


@pytest.mark.external_postgres
def test_migrate_upgrades_reports_and_downgrades_the_database_url(
    workdir: Path, data_dir: Path, fresh_external_database: str
) -> None:
    with scratch_app_role(fresh_external_database) as role:
        env = mosaic_env(
            data_dir, MOSAIC_DATABASE_URL=fresh_external_database, MOSAIC_DATABASE_APP_ROLE=role
        )

        upgraded = run_mosaic("migrate", env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        assert "Database migrated to head." in upgraded.stdout
        at_head = run_mosaic("migrate", "current", env=env)
        assert "(head)" in at_head.stdout

        downgraded = run_mosaic("migrate", "downgrade", "base", env=env)
        assert downgraded.returncode == 0, downgraded.stderr
        at_base = run_mosaic("migrate", "current", env=env)
        assert at_base.returncode == 0, at_base.stderr
        assert "(head)" not in at_base.stdout

        again = run_mosaic("migrate", env=env)
        assert again.returncode == 0, again.stderr
    assert not data_dir.exists()
