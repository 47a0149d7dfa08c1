"""Seed 002's visibility, exactly: a member sees public, private and their own personal
stories; a non-member (a pending member is one) sees public only; another tenant sees nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import delete

from mosaic.models import LegacyMember
from tests.stories.conftest import Community, Sessions, StoryWriter

READERS = ["author", "owner", "editor", "member", "viewer", "pending", "non_member", "other_tenant"]
MEMBERS = {"author", "owner", "editor", "member", "viewer"}
SEES: dict[str, set[str]] = {
    "public": MEMBERS | {"pending", "non_member"},
    "private": MEMBERS,
    "personal": {"author"},
}


@pytest.fixture
async def stories(write_story: StoryWriter) -> dict[str, dict[str, Any]]:
    """One story of each visibility, all by ``"author"``."""
    return {
        visibility: await write_story(visibility=visibility, title=f"A {visibility} story")
        for visibility in SEES
    }


@pytest.mark.parametrize("visibility", sorted(SEES))
@pytest.mark.parametrize("reader", READERS)
async def test_reading_one_story(
    client: httpx.AsyncClient,
    community: Community,
    stories: dict[str, dict[str, Any]],
    reader: str,
    visibility: str,
) -> None:
    response = await client.get(
        f"/api/v1/stories/{stories[visibility]['id']}", headers=community.headers(reader)
    )

    expected = 200 if reader in SEES[visibility] else 404
    assert response.status_code == expected, response.text
    if expected == 404:
        assert response.json()["error"]["code"] == "STORY_NOT_FOUND"


@pytest.mark.parametrize("reader", [name for name in READERS if name != "other_tenant"])
async def test_listing_a_legacy(
    client: httpx.AsyncClient,
    community: Community,
    stories: dict[str, dict[str, Any]],
    reader: str,
) -> None:
    response = await client.get(
        "/api/v1/stories",
        params={"legacy_id": str(community.legacy_id)},
        headers=community.headers(reader),
    )

    assert response.status_code == 200
    listed = {story["id"] for story in response.json()["data"]}
    assert listed == {stories[v]["id"] for v, readers in SEES.items() if reader in readers}


async def test_another_tenant_cannot_even_list_the_legacy(
    client: httpx.AsyncClient, community: Community, stories: dict[str, dict[str, Any]]
) -> None:
    response = await client.get(
        "/api/v1/stories",
        params={"legacy_id": str(community.legacy_id)},
        headers=community.headers("other_tenant"),
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "LEGACY_NOT_FOUND"


async def test_a_personal_story_is_not_its_authors_once_they_leave_the_legacy(
    client: httpx.AsyncClient,
    community: Community,
    stories: dict[str, dict[str, Any]],
    owner_sessions: Sessions,
) -> None:
    async with owner_sessions() as session, session.begin():
        await session.execute(
            delete(LegacyMember).where(
                LegacyMember.legacy_id == community.legacy_id,
                LegacyMember.user_id == community.people["author"].user_id,
            )
        )

    personal = await client.get(
        f"/api/v1/stories/{stories['personal']['id']}", headers=community.headers("author")
    )
    public = await client.get(
        f"/api/v1/stories/{stories['public']['id']}", headers=community.headers("author")
    )

    assert personal.status_code == 404  # seed 002: a non-member sees public stories only
    assert public.status_code == 200


async def test_a_list_of_another_legacy_shows_only_what_its_rules_allow(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter
) -> None:
    private = await write_story("outsider", legacy_id=community.other_legacy_id)
    public = await write_story("outsider", legacy_id=community.other_legacy_id, visibility="public")

    response = await client.get(
        "/api/v1/stories",
        params={"legacy_id": str(community.other_legacy_id)},
        headers=community.headers("owner"),
    )

    assert [story["id"] for story in response.json()["data"]] == [public["id"]]
    assert private["id"] != public["id"]
