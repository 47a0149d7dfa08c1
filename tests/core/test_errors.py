"""Every error, ours or the framework's, leaves in one envelope with the request id."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import structlog

from mosaic.authz.errors import MissingScope
from mosaic.core.errors import MosaicError, error_responses
from mosaic.identity.errors import ApiKeyNotFound
from tests.conftest import TenantWithKey

ENVELOPE_FIELDS = {"code", "message", "details", "request_id"}
# The test settings cap bodies at 64 KiB.
OVER_THE_LIMIT = 64 * 1024 + 1


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is ``status`` with ``code`` in the envelope; returns the error object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == ENVELOPE_FIELDS
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"]
    assert response.headers["X-Request-ID"] == error["request_id"]
    return error


async def _chunks(total: int, size: int = 4096) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        chunk = b"x" * min(size, total - sent)
        sent += len(chunk)
        yield chunk


async def test_an_unknown_route_is_404_in_the_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/no-such-thing")

    assert_envelope(response, 404, "NOT_FOUND")


async def test_a_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/v1/tenant")

    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"] == "GET"


async def test_a_declared_oversized_body_is_413_before_authentication(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/v1/api-keys",
        content=b"x" * OVER_THE_LIMIT,
        headers={"Content-Type": "application/json"},
    )

    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert response.headers["Connection"] == "close"


async def test_a_streamed_oversized_body_without_content_length_is_413(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    request = client.build_request(
        "POST",
        "/api/v1/api-keys",
        content=_chunks(OVER_THE_LIMIT),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"

    response = await client.send(request)

    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


async def test_a_streamed_oversized_body_is_413_over_a_real_connection(
    live_client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    response = await live_client.post(
        "/api/v1/api-keys",
        content=_chunks(OVER_THE_LIMIT),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )

    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert response.headers["Connection"] == "close"


async def test_a_streamed_oversized_body_is_413_even_when_the_handler_swallows_the_error(
    faulty_client: httpx.AsyncClient,
) -> None:
    response = await faulty_client.post(
        "/test-only/swallow-body-errors", content=_chunks(OVER_THE_LIMIT)
    )

    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


async def test_a_streamed_body_within_the_limit_is_read_whole(
    faulty_client: httpx.AsyncClient,
) -> None:
    response = await faulty_client.post(
        "/test-only/swallow-body-errors", content=_chunks(OVER_THE_LIMIT - 1)
    )

    assert response.status_code == 200
    assert response.json() == {"received": OVER_THE_LIMIT - 1}


async def test_a_non_numeric_content_length_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/api-keys", content=b"{}", headers={"Content-Length": "lots"}
    )

    assert_envelope(response, 400, "BAD_REQUEST")


async def test_malformed_json_is_400_invalid_json(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    response = await client.post(
        "/api/v1/api-keys",
        content=b'{"name": ',
        headers={**tenant.headers, "Content-Type": "application/json"},
    )

    assert_envelope(response, 400, "INVALID_JSON")


async def test_a_body_that_is_not_utf8_is_400_invalid_json(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    response = await client.post(
        "/api/v1/api-keys",
        content=b'{"name": "caf\xe9"}',
        headers={**tenant.headers, "Content-Type": "application/json"},
    )

    assert_envelope(response, 400, "INVALID_JSON")


async def test_json_nested_too_deeply_to_parse_is_400_not_500(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    depth = 30_000
    response = await client.post(
        "/api/v1/api-keys",
        content=b"[" * depth + b"]" * depth,
        headers={**tenant.headers, "Content-Type": "application/json"},
    )

    assert_envelope(response, 400, "BAD_REQUEST")


async def test_a_wrong_type_is_422_without_echoing_the_value(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    response = await client.post(
        "/api/v1/api-keys",
        json={"name": "ok", "scopes": "hunter2-the-password"},
        headers=tenant.headers,
    )

    error = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert [detail["loc"] for detail in error["details"]] == [["body", "scopes"]]
    assert "hunter2-the-password" not in response.text


async def test_an_unknown_field_is_422_without_echoing_the_value(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    response = await client.post(
        "/api/v1/api-keys",
        json={"name": "ok", "password": "hunter2-the-password"},
        headers=tenant.headers,
    )

    error = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert error["details"] == [
        {
            "loc": ["body", "password"],
            "message": "Extra inputs are not permitted",
            "type": "extra_forbidden",
        }
    ]
    assert "hunter2-the-password" not in response.text


async def test_a_missing_field_is_422_naming_it(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    response = await client.post("/api/v1/api-keys", json={"scopes": []}, headers=tenant.headers)

    error = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert [(detail["loc"], detail["type"]) for detail in error["details"]] == [
        (["body", "name"], "missing")
    ]


async def test_an_invalid_uuid_in_the_path_is_422(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    response = await client.get("/api/v1/api-keys/not-a-uuid", headers=tenant.headers)

    error = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert [detail["loc"] for detail in error["details"]] == [["path", "key_id"]]
    assert "not-a-uuid" not in response.text


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("a\u0000b", id="null byte"),
        pytest.param("line\nbreak", id="newline"),
        pytest.param("bell\u0007", id="control character"),
        pytest.param("\u202eevil", id="bidi override"),
        pytest.param("lone \ud800 surrogate", id="not encodable as UTF-8"),
    ],
)
async def test_unprintable_characters_in_a_name_are_422(
    client: httpx.AsyncClient, tenant: TenantWithKey, name: str
) -> None:
    # ensure_ascii escapes every such character, so the body itself is valid UTF-8 JSON.
    content = json.dumps({"name": name}, ensure_ascii=True).encode()

    response = await client.post(
        "/api/v1/api-keys",
        content=content,
        headers={**tenant.headers, "Content-Type": "application/json"},
    )

    error = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert [detail["loc"] for detail in error["details"]] == [["body", "name"]]


async def test_an_unhandled_exception_is_a_generic_500_without_the_trace(
    faulty_client: httpx.AsyncClient,
) -> None:
    response = await faulty_client.get("/test-only/boom")

    error = assert_envelope(response, 500, "INTERNAL_ERROR")
    assert error["message"] == "An unexpected error occurred"
    assert error["details"] is None
    for leak in ("DeliberateFailure", "secret internals", "Traceback", ".py"):
        assert leak not in response.text


async def test_an_unhandled_exception_is_logged_with_its_trace_and_request_id(
    faulty_client: httpx.AsyncClient,
) -> None:
    with structlog.testing.capture_logs() as logs:
        response = await faulty_client.get(
            "/test-only/boom", headers={"X-Request-ID": "trace-me-1"}
        )

    assert response.status_code == 500
    [logged] = [entry for entry in logs if entry["event"] == "unhandled_exception"]
    assert logged["log_level"] == "error"
    assert logged["request_id"] == "trace-me-1"
    assert isinstance(logged["exc_info"], RuntimeError)
    assert str(logged["exc_info"]) == "secret internals: /srv/mosaic/app.py line 42"


async def test_a_mosaic_error_renders_its_own_status_code_and_message(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    response = await client.get(
        "/api/v1/api-keys/00000000-0000-7000-8000-000000000000", headers=tenant.headers
    )

    error = assert_envelope(response, 404, "API_KEY_NOT_FOUND")
    assert error["message"] == ApiKeyNotFound.default_message


def test_error_responses_groups_errors_by_status_for_openapi() -> None:
    class Gone(MosaicError):
        status_code = 404
        code = "GONE_FOR_GOOD"

    responses = error_responses(ApiKeyNotFound, Gone, MissingScope)

    assert set(responses) == {403, 404}
    assert responses[404]["description"] == "API_KEY_NOT_FOUND, GONE_FOR_GOOD"
    assert responses[403]["description"] == "MISSING_SCOPE"
