"""Entity tags: successful JSON reads are tagged, and If-None-Match turns a repeat into 304."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mosaic.core.etag import ETagMiddleware, etag_for, if_none_match_matches
from tests.conftest import TenantWithKey
from tests.core.conftest import KeysFactory


async def _tagged(client: httpx.AsyncClient, path: str, tenant: TenantWithKey) -> str:
    response = await client.get(path, headers=tenant.headers)
    assert response.status_code == 200
    etag: str = response.headers["ETag"]
    return etag


async def test_a_read_carries_a_strong_etag_of_its_body(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    response = await client.get("/api/v1/tenant", headers=tenant.headers)

    assert response.headers["ETag"] == etag_for(response.content)
    assert response.headers["ETag"].startswith('"')


async def test_a_read_may_be_kept_only_by_a_private_cache_that_revalidates(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    response = await client.get("/api/v1/tenant", headers=tenant.headers)

    assert response.headers["Cache-Control"] == "private, no-cache"


async def test_a_list_carries_an_etag(client: httpx.AsyncClient, tenant: TenantWithKey) -> None:
    response = await client.get("/api/v1/api-keys", headers=tenant.headers)

    assert response.headers["ETag"] == etag_for(response.content)


async def test_an_unchanged_resource_keeps_its_etag(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    first = await _tagged(client, "/api/v1/tenant", tenant)

    assert await _tagged(client, "/api/v1/tenant", tenant) == first


async def test_if_none_match_with_the_current_etag_is_304_without_a_body(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    etag = await _tagged(client, "/api/v1/tenant", tenant)

    response = await client.get("/api/v1/tenant", headers={**tenant.headers, "If-None-Match": etag})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == etag
    assert "content-type" not in response.headers
    assert response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("W/{etag}", id="weak form"),
        pytest.param('"stale", {etag}', id="list"),
        pytest.param('"stale",{etag} , "older"', id="list without spaces"),
        pytest.param("*", id="any"),
    ],
)
async def test_if_none_match_forms_that_match_are_304(
    client: httpx.AsyncClient, tenant: TenantWithKey, header: str
) -> None:
    etag = await _tagged(client, "/api/v1/tenant", tenant)

    response = await client.get(
        "/api/v1/tenant", headers={**tenant.headers, "If-None-Match": header.format(etag=etag)}
    )

    assert response.status_code == 304


async def test_if_none_match_with_another_etag_is_200_with_the_body(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    response = await client.get(
        "/api/v1/tenant", headers={**tenant.headers, "If-None-Match": '"not-the-etag"'}
    )

    assert response.status_code == 200
    assert response.json()["id"] == str(tenant.id)


async def test_a_changed_resource_gets_a_new_etag_and_a_200(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_api_keys: KeysFactory
) -> None:
    [key_id] = await make_api_keys(tenant, 1)
    path = f"/api/v1/api-keys/{key_id}"
    before = await _tagged(client, path, tenant)
    assert (await client.delete(path, headers=tenant.headers)).status_code == 204

    response = await client.get(path, headers={**tenant.headers, "If-None-Match": before})

    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert response.headers["ETag"] != before


async def test_a_create_is_not_tagged_or_short_circuited(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    response = await client.post(
        "/api/v1/api-keys",
        json={"name": "fresh"},
        headers={**tenant.headers, "If-None-Match": "*"},
    )

    assert response.status_code == 201
    assert "etag" not in response.headers


async def test_a_delete_is_not_short_circuited_by_if_none_match(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_api_keys: KeysFactory
) -> None:
    [key_id] = await make_api_keys(tenant, 1)

    response = await client.delete(
        f"/api/v1/api-keys/{key_id}", headers={**tenant.headers, "If-None-Match": "*"}
    )

    assert response.status_code == 204
    assert "etag" not in response.headers


async def test_an_error_is_not_tagged(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/tenant", headers={"If-None-Match": "*"})

    assert response.status_code == 401
    assert "etag" not in response.headers


async def test_a_head_request_is_not_tagged_with_the_etag_of_an_empty_body() -> None:
    async def document(_: Request) -> JSONResponse:
        return JSONResponse({"hello": "world"})

    # Starlette answers HEAD for every GET route, with the headers and no body.
    app = ETagMiddleware(Starlette(routes=[Route("/doc", document)]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.head("/doc", headers={"If-None-Match": etag_for(b"")})

    assert response.status_code == 200
    assert "etag" not in response.headers


def test_etags_of_different_bodies_differ() -> None:
    assert etag_for(b'{"a":1}') != etag_for(b'{"a":2}')


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ("", False),
        ('"abc"', True),
        ('W/"abc"', True),
        ('"abd"', False),
        ('"x", "abc"', True),
        ("abc", False),
        (" * ", True),
    ],
)
def test_if_none_match_uses_weak_comparison(header: str | None, matches: bool) -> None:
    assert if_none_match_matches(header, '"abc"') is matches
