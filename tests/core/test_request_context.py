"""The request id: a caller's well-formed one is kept, anything else is replaced, and every
response — errors included — carries it."""

from __future__ import annotations

import re

import httpx
import pytest
import structlog

from mosaic.core.request_context import (
    accept_request_id,
    bind_request_id,
    current_request_id,
    reset_request_id,
)
from tests.conftest import TenantWithKey

MINTED = re.compile(r"[0-9a-f]{32}")


async def test_a_well_formed_request_id_is_echoed(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    response = await client.get(
        "/api/v1/tenant", headers={**tenant.headers, "X-Request-ID": "caller-id_1.2:3"}
    )

    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "caller-id_1.2:3"


async def test_a_request_id_is_minted_when_none_is_sent(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    response = await client.get("/api/v1/tenant", headers=tenant.headers)

    assert MINTED.fullmatch(response.headers["X-Request-ID"])


async def test_each_request_gets_its_own_minted_id(client: httpx.AsyncClient) -> None:
    first = await client.get("/api/v1/tenant")
    second = await client.get("/api/v1/tenant")

    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "offered",
    [
        pytest.param("has spaces in it", id="spaces"),
        pytest.param('quote"d', id="quote"),
        pytest.param("<script>", id="markup"),
        pytest.param("x" * 129, id="too long"),
        pytest.param("", id="empty"),
    ],
)
async def test_a_malformed_request_id_is_replaced(client: httpx.AsyncClient, offered: str) -> None:
    response = await client.get("/api/v1/tenant", headers={"X-Request-ID": offered})

    assert response.headers["X-Request-ID"] != offered
    assert MINTED.fullmatch(response.headers["X-Request-ID"])
    assert response.json()["error"]["request_id"] == response.headers["X-Request-ID"]


async def test_a_request_id_of_the_maximum_length_is_kept(client: httpx.AsyncClient) -> None:
    offered = "x" * 128

    response = await client.get("/api/v1/tenant", headers={"X-Request-ID": offered})

    assert response.headers["X-Request-ID"] == offered


async def test_an_error_response_carries_the_callers_request_id(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/tenant", headers={"X-Request-ID": "err-401"})

    assert response.status_code == 401
    assert response.headers["X-Request-ID"] == "err-401"
    assert response.json()["error"]["request_id"] == "err-401"


async def test_a_500_carries_the_callers_request_id(faulty_client: httpx.AsyncClient) -> None:
    response = await faulty_client.get("/test-only/boom", headers={"X-Request-ID": "err-500"})

    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "err-500"
    assert response.json()["error"]["request_id"] == "err-500"


async def test_a_413_from_the_body_limit_carries_the_request_id(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/v1/api-keys", content=b"x" * (64 * 1024 + 1), headers={"X-Request-ID": "err-413"}
    )

    assert response.status_code == 413
    assert response.headers["X-Request-ID"] == "err-413"
    assert response.json()["error"]["request_id"] == "err-413"


async def test_one_access_log_line_records_method_path_and_status(
    client: httpx.AsyncClient,
) -> None:
    with structlog.testing.capture_logs() as logs:
        await client.get("/api/v1/tenant", headers={"X-Request-ID": "logged-1"})

    [line] = [entry for entry in logs if entry["event"] == "request"]
    assert line["status"] == 401
    assert line["path"] == "/api/v1/tenant"
    assert line["method"] == "GET"


async def test_the_request_id_is_not_current_after_the_request(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/api/v1/tenant", headers={"X-Request-ID": "gone-after"})

    assert current_request_id() is None


def test_accept_request_id_refuses_a_trailing_newline() -> None:
    # A regex anchored with "$" would accept this: "$" matches before a final newline.
    assert accept_request_id("abc\n") != "abc\n"


def test_accept_request_id_mints_when_nothing_is_offered() -> None:
    assert MINTED.fullmatch(accept_request_id(None))


def test_a_bound_request_id_is_current_until_reset() -> None:
    token = bind_request_id("bound-1")
    try:
        assert current_request_id() == "bound-1"
    finally:
        reset_request_id(token)

    assert current_request_id() is None
