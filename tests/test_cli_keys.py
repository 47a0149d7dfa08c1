"""The ``mosaic keys rotate`` command."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mosaic import cli
from mosaic.core.settings import get_settings


def test_keys_rotate_creates_a_new_signing_key(
    fresh_embedded_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOSAIC_DATABASE_URL", fresh_embedded_database)
    get_settings.cache_clear()
    try:
        first = CliRunner().invoke(cli.app, ["keys", "rotate"])
        second = CliRunner().invoke(cli.app, ["keys", "rotate"])
    finally:
        get_settings.cache_clear()

    assert first.exit_code == 0, first.output
    assert _kid(first.output) != _kid(second.output)


def _kid(output: str) -> str:
    # Logs go to the same stream; the command's own line is the one that names the key.
    [line] = [line for line in output.splitlines() if line.startswith("New signing key ")]
    return line.split()[3].rstrip(";")
