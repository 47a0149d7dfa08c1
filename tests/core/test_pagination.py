"""Cursor pagination over the API-key list, and the cursor codec on its own."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy import Select, literal_column, select
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from mosaic.core.errors import InvalidCursor
from mosaic.core.ids import new_id
from mosaic.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, CursorCodec, inline_limit
from mosaic.core.settings import Settings
from tests.conftest import TenantFactory, TenantWithKey
from tests.core.conftest import KeysFactory
from tests.core.test_errors import assert_envelope

LIST = "/api/v1/api-keys"


@pytest.fixture
def codec(settings: Settings) -> CursorCodec:
    """The codec the app under test uses."""
    return CursorCodec.for_secret(settings.security.secret_key.get_secret_value())


async def _walk(
    client: httpx.AsyncClient, tenant: TenantWithKey, limit: int
) -> list[dict[str, Any]]:
    """Every page of the tenant's keys, following next_cursor to the end."""
    pages = []
    params: dict[str, str | int] = {"limit": limit}
    while True:
        response = await client.get(LIST, params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        if page["pagination"]["next_cursor"] is None:
            return pages
        params = {"limit": limit, "cursor": page["pagination"]["next_cursor"]}


async def test_the_default_limit_is_20(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_api_keys: KeysFactory
) -> None:
    await make_api_keys(tenant, DEFAULT_LIMIT + 1)  # 22 keys with the tenant's own

    response = await client.get(LIST, headers=tenant.headers)

    page = response.json()
    assert len(page["data"]) == 20
    assert page["pagination"]["limit"] == 20
    assert page["pagination"]["has_more"] is True


async def test_a_limit_of_100_is_allowed(client: httpx.AsyncClient, tenant: TenantWithKey) -> None:
    response = await client.get(LIST, params={"limit": MAX_LIMIT}, headers=tenant.headers)

    assert response.status_code == 200
    assert response.json()["pagination"]["limit"] == 100


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten"])
async def test_a_limit_outside_1_to_100_is_422(
    client: httpx.AsyncClient, tenant: TenantWithKey, limit: str
) -> None:
    response = await client.get(LIST, params={"limit": limit}, headers=tenant.headers)

    error = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert [detail["loc"] for detail in error["details"]] == [["query", "limit"]]


async def test_following_next_cursor_visits_every_item_once_in_id_order(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_api_keys: KeysFactory
) -> None:
    await make_api_keys(tenant, 11)  # 12 keys with the tenant's own: pages of 5, 5, 2

    pages = await _walk(client, tenant, limit=5)

    ids = [UUID(item["id"]) for page in pages for item in page["data"]]
    assert [len(page["data"]) for page in pages] == [5, 5, 2]
    assert len(ids) == len(set(ids)) == 12
    assert ids == sorted(ids)


async def test_the_last_page_has_no_more_and_no_cursor(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_api_keys: KeysFactory
) -> None:
    await make_api_keys(tenant, 3)

    pages = await _walk(client, tenant, limit=2)

    assert [page["pagination"]["has_more"] for page in pages] == [True, False]
    assert pages[-1]["pagination"]["next_cursor"] is None


async def test_an_exactly_full_last_page_says_there_is_no_more(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_api_keys: KeysFactory
) -> None:
    await make_api_keys(tenant, 3)  # 4 keys: two full pages of 2, no third

    pages = await _walk(client, tenant, limit=2)

    assert len(pages) == 2
    assert pages[-1]["pagination"] == {"limit": 2, "next_cursor": None, "has_more": False}


async def test_a_page_shows_only_the_callers_tenant(
    client: httpx.AsyncClient,
    tenant: TenantWithKey,
    make_tenant: TenantFactory,
    make_api_keys: KeysFactory,
) -> None:
    mine = await make_api_keys(tenant, 2)
    theirs = await make_api_keys(await make_tenant(), 2)

    response = await client.get(LIST, params={"limit": 100}, headers=tenant.headers)

    listed = {UUID(item["id"]) for item in response.json()["data"]}
    assert set(mine) < listed
    assert len(listed) == 3
    assert not listed & set(theirs)


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("", id="empty"),
        pytest.param("garbage", id="garbage"),
        pytest.param("!!!!", id="not base64"),
        pytest.param("é" * 10, id="not ascii"),
        pytest.param("A" * 500, id="very long"),
    ],
)
async def test_a_cursor_we_did_not_issue_is_400_invalid_cursor(
    client: httpx.AsyncClient, tenant: TenantWithKey, cursor: str
) -> None:
    response = await client.get(LIST, params={"cursor": cursor}, headers=tenant.headers)

    assert_envelope(response, 400, "INVALID_CURSOR")


async def test_a_tampered_cursor_is_400_invalid_cursor(
    client: httpx.AsyncClient, tenant: TenantWithKey, codec: CursorCodec
) -> None:
    raw = bytearray(base64.urlsafe_b64decode(codec.encode(new_id()) + "=="))
    raw[3] ^= 0x01  # another id under the same signature
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()

    response = await client.get(LIST, params={"cursor": tampered}, headers=tenant.headers)

    assert_envelope(response, 400, "INVALID_CURSOR")


async def test_a_cursor_signed_with_another_secret_is_400_invalid_cursor(
    client: httpx.AsyncClient, tenant: TenantWithKey
) -> None:
    foreign = CursorCodec.for_secret("another-deployment-secret").encode(new_id())

    response = await client.get(LIST, params={"cursor": foreign}, headers=tenant.headers)

    assert_envelope(response, 400, "INVALID_CURSOR")


async def test_a_cursor_signed_with_the_raw_secret_is_400_invalid_cursor(
    client: httpx.AsyncClient, tenant: TenantWithKey, settings: Settings
) -> None:
    # Cursors are signed with a key derived for them alone, not with the secret itself.
    raw_secret = settings.security.secret_key.get_secret_value().encode()
    forged = CursorCodec(raw_secret).encode(new_id())

    response = await client.get(LIST, params={"cursor": forged}, headers=tenant.headers)

    assert_envelope(response, 400, "INVALID_CURSOR")


async def test_a_valid_cursor_resumes_after_its_id(
    client: httpx.AsyncClient,
    tenant: TenantWithKey,
    make_api_keys: KeysFactory,
    codec: CursorCodec,
) -> None:
    ids = sorted(await make_api_keys(tenant, 4))

    response = await client.get(
        LIST, params={"cursor": codec.encode(ids[1]), "limit": 100}, headers=tenant.headers
    )

    listed = [UUID(item["id"]) for item in response.json()["data"]]
    assert listed == ids[2:]


# The codec on its own.


def test_a_cursor_decodes_to_the_id_it_encodes() -> None:
    codec = CursorCodec.for_secret("s3cret")
    last_id = uuid4()

    assert codec.decode(codec.encode(last_id)) == last_id


def test_a_cursor_is_url_safe_and_unpadded() -> None:
    cursor = CursorCodec.for_secret("s3cret").encode(uuid4())

    assert cursor.replace("-", "").replace("_", "").isalnum()
    assert "=" not in cursor


def test_the_cursor_key_is_derived_from_the_secret_for_cursors_only() -> None:
    codec = CursorCodec.for_secret("s3cret")

    assert codec.key != b"s3cret"
    assert codec.key == hmac.new(b"s3cret", b"mosaic/pagination-cursor/v1", hashlib.sha256).digest()


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda cursor: cursor[:-1], id="truncated"),
        pytest.param(lambda cursor: cursor + "AA", id="extended"),
        pytest.param(lambda cursor: cursor + ".", id="junk character appended"),
        pytest.param(lambda cursor: cursor[:5] + " " + cursor[5:], id="space inside"),
        pytest.param(lambda cursor: "", id="emptied"),
    ],
)
def test_a_mangled_cursor_does_not_decode(mangle: Callable[[str], str]) -> None:
    codec = CursorCodec.for_secret("s3cret")
    cursor = codec.encode(uuid4())

    with pytest.raises(InvalidCursor):
        codec.decode(mangle(cursor))


def test_a_cursor_from_another_key_does_not_decode() -> None:
    cursor = CursorCodec.for_secret("one").encode(uuid4())

    with pytest.raises(InvalidCursor):
        CursorCodec.for_secret("two").decode(cursor)


def test_a_page_limit_is_written_into_the_sql_not_bound() -> None:
    # A bound LIMIT makes PostgreSQL re-plan a prepared list query on every execution.
    statement: Select[tuple[Any]] = select(literal_column("1")).limit(inline_limit(21))
    compiled = statement.compile(dialect=PGDialect_asyncpg())  # type: ignore[no-untyped-call]

    assert str(compiled).endswith("LIMIT 21")
    assert compiled.params == {}
