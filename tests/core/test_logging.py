"""Structured logs: one JSON object per line, carrying the request's context, never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import structlog

from mosaic.core.logging import REDACTED, configure_logging
from mosaic.core.settings import ObservabilitySettings
from tests.conftest import TenantFactory

LogLines = Callable[[], list[dict[str, Any]]]
_TOUCHED_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "alembic", "pgserver")


@contextmanager
def json_logs() -> Iterator[LogLines]:
    """Configure logging as ``mosaic serve`` does, into a buffer; restore everything after.

    Used inside the test body, not as a fixture, so pytest's own per-phase log handlers are
    exactly the ones restored.
    """
    saved_loggers = {
        name: (logger.handlers[:], logger.level, logger.propagate, logger.disabled)
        for name in _TOUCHED_LOGGERS
        for logger in [logging.getLogger(name)]
    }
    saved_structlog = structlog.get_config()
    stream = io.StringIO()
    configure_logging(ObservabilitySettings(log_json=True, log_level="INFO"), stream=stream)
    # Module-level loggers would otherwise keep this configuration after the test.
    structlog.configure(cache_logger_on_first_use=False)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        structlog.configure(**saved_structlog)
        for name, (handlers, level, propagate, disabled) in saved_loggers.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate
            logger.disabled = disabled


def _one(lines: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [line for line in lines if all(line.get(k) == v for k, v in match.items())]
    assert len(found) == 1, f"expected one line matching {match}, got {found} in {lines}"
    return found[0]


async def test_access_lines_are_json_with_the_request_id(client: httpx.AsyncClient) -> None:
    with json_logs() as lines:
        await client.get("/health/live", headers={"X-Request-ID": "log-test-live"})

    line = _one(lines(), event="request", request_id="log-test-live")
    assert line["logger"] == "mosaic.access"
    assert line["level"] == "info"
    assert line["method"] == "GET"
    assert line["path"] == "/health/live"
    assert line["status"] == 200
    assert line["timestamp"].endswith("Z")


async def test_authenticated_request_lines_carry_the_tenant(
    client: httpx.AsyncClient, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant()

    with json_logs() as lines:
        response = await client.post(
            "/api/v1/api-keys",
            headers={**tenant.headers, "X-Request-ID": "log-test-create"},
            json={"name": "logged", "scopes": ["tenant:read"]},
        )
    assert response.status_code == 201

    # A line written by the service, inside the request, and the access line after it.
    created = _one(lines(), event="api_key_created", request_id="log-test-create")
    access = _one(lines(), event="request", request_id="log-test-create")
    assert created["tenant_id"] == access["tenant_id"] == str(tenant.id)
    assert response.json()["key"] not in json.dumps(lines())


async def test_anonymous_request_lines_have_no_tenant(client: httpx.AsyncClient) -> None:
    with json_logs() as lines:
        await client.get("/api/v1/tenant", headers={"X-Request-ID": "log-test-anonymous"})

    assert "tenant_id" not in _one(lines(), event="request", request_id="log-test-anonymous")


def test_secret_values_are_redacted_wherever_they_are() -> None:
    secrets = ["hunter2", "tok-123", "Bearer abc", "msk_live", "cs-9", "sess-1", "refresh-7"]

    with json_logs() as lines:
        structlog.get_logger("mosaic.test").info(
            "login",
            password=secrets[0],
            token=secrets[1],
            headers={"Authorization": secrets[2], "X-API-Key": secrets[3], "Accept": "*/*"},
            client_secret=secrets[4],
            attempts=[{"Cookie": secrets[5]}, {"refresh_token": secrets[6]}],
            prompt_tokens=12,
            token_count=3,
        )

    line = _one(lines(), event="login")
    assert line["password"] == line["token"] == line["client_secret"] == REDACTED
    assert line["headers"] == {"Authorization": REDACTED, "X-API-Key": REDACTED, "Accept": "*/*"}
    assert line["attempts"] == [{"Cookie": REDACTED}, {"refresh_token": REDACTED}]
    # Counting tokens is not holding one.
    assert (line["prompt_tokens"], line["token_count"]) == (12, 3)
    assert not [secret for secret in secrets if secret in json.dumps(line)]


def test_standard_library_lines_are_json_too() -> None:
    with json_logs() as lines:
        logging.getLogger("uvicorn.error").warning("server %s", "started")
        try:
            raise ValueError("broken")
        except ValueError:
            logging.getLogger("alembic").exception("migration failed")

    started = _one(lines(), event="server started")
    assert (started["level"], started["logger"]) == ("warning", "uvicorn.error")
    failed = _one(lines(), event="migration failed")
    assert "ValueError: broken" in failed["exception"]
