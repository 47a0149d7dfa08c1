"""Bad input to the legacies API: always a 4xx in the error envelope, never a 500."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Member
from tests.legacies.conftest import ACCEPT, LEGACIES, Legacy, error_of

MemberMaker = Callable[..., Awaitable[Member]]

BAD_LEGACIES: list[tuple[str, dict[str, Any]]] = [
    ("missing name", {}),
    ("empty name", {"name": ""}),
    ("blank name", {"name": "   "}),
    ("name too long", {"name": "x" * 201}),
    ("null byte", {"name": "Ada\x00Lovelace"}),
    ("control character", {"name": "Ada\x1bLovelace"}),
    ("line break in name", {"name": "Ada\nLovelace"}),
    ("C1 control", {"name": "A\x85da"}),
    ("null byte in biography", {"name": "Ada", "biography": "a\x00b"}),
    ("biography too long", {"name": "Ada", "biography": "x" * 20_001}),
    ("unknown field", {"name": "Ada", "slug": "chosen"}),
    ("death before birth", {"name": "Ada", "birth_date": "1900-01-02", "death_date": "1900-01-01"}),
    ("not a date", {"name": "Ada", "birth_date": "yesterday"}),
    ("name not a string", {"name": 42}),
]


@pytest.mark.parametrize(("case", "body"), BAD_LEGACIES, ids=[case for case, _ in BAD_LEGACIES])
async def test_a_bad_legacy_is_refused(
    client: httpx.AsyncClient, community_member: MemberMaker, case: str, body: dict[str, Any]
) -> None:
    creator = await community_member()

    response = await client.post(LEGACIES, json=body, headers=creator.headers)

    assert error_of(response, 422)["code"] == "VALIDATION_ERROR", case


async def test_a_name_of_exactly_200_characters_is_fine(
    client: httpx.AsyncClient, community_member: MemberMaker
) -> None:
    creator = await community_member()

    response = await client.post(LEGACIES, json={"name": "é" * 200}, headers=creator.headers)

    assert response.status_code == 201, response.text
    assert response.json()["slug"] == "e" * 100


@pytest.mark.parametrize(
    "body",
    [{"name": None}, {"name": ""}, {"name": "a\x00"}, {"version": 7}, {"death_date": "x"}],
)
async def test_a_bad_patch_is_refused(
    client: httpx.AsyncClient, legacy: Legacy, body: dict[str, Any]
) -> None:
    response = await client.patch(legacy.url, json=body, headers=legacy.owner.headers)

    assert error_of(response, 422)["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("query", ["", "   ", "x" * 201, "a\x00b", "line\nbreak"])
async def test_a_bad_search_is_refused(
    client: httpx.AsyncClient, legacy: Legacy, query: str
) -> None:
    response = await client.get(
        f"{LEGACIES}/search", params={"q": query}, headers=legacy.owner.headers
    )

    assert error_of(response, 422)["code"] == "VALIDATION_ERROR"


async def test_malformed_ids_and_cursors_are_client_errors(
    client: httpx.AsyncClient, legacy: Legacy
) -> None:
    headers = legacy.owner.headers

    assert error_of(
        await client.put(f"{LEGACIES}/not-a-uuid", json={"name": "x"}, headers=headers), 422
    )
    assert error_of(await client.get(f"{LEGACIES}/{'x' * 500}", headers=headers), 422)
    assert error_of(await client.get(f"{legacy.url}/members/nope/approve", headers=headers), 405)
    assert (
        error_of(
            await client.get(f"{legacy.url}/members", params={"cursor": "bogus"}, headers=headers),
            400,
        )["code"]
        == "INVALID_CURSOR"
    )
    assert (
        error_of(await client.get(f"{LEGACIES}/no-such-slug", headers=headers), 404)["code"]
        == "LEGACY_NOT_FOUND"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email"},
        {"role": "creator"},
        {"expires_in_hours": 0},
        {"expires_in_hours": 10_000},
        {"token": "x" * 43},
    ],
)
async def test_a_bad_invitation_is_refused(
    client: httpx.AsyncClient, legacy: Legacy, body: dict[str, Any]
) -> None:
    response = await client.post(
        f"{legacy.url}/invitations", json=body, headers=legacy.owner.headers
    )

    assert error_of(response, 422)["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("body", [{}, {"token": "short"}, {"token": "x" * 129}, {"token": 1}])
async def test_a_bad_accept_is_refused(
    client: httpx.AsyncClient, legacy: Legacy, body: dict[str, Any]
) -> None:
    response = await client.post(ACCEPT, json=body, headers=legacy.owner.headers)

    assert error_of(response, 422)["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("body", [{"role": "pending"}, {"role": "owner", "extra": 1}, {}])
async def test_a_bad_role_change_is_refused(
    client: httpx.AsyncClient, legacy: Legacy, body: dict[str, Any]
) -> None:
    response = await client.patch(
        f"{legacy.url}/members/{legacy.owner.user_id}", json=body, headers=legacy.owner.headers
    )

    assert error_of(response, 422)["code"] == "VALIDATION_ERROR"
