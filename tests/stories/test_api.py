"""Writing, reading, changing and deleting stories over the API."""

from __future__ import annotations

from uuid import UUID

import httpx
import pytest
from sqlalchemy import func, select, update

from mosaic.models import Legacy, Story, StoryRevision
from tests.conftest import outbox_events
from tests.stories.conftest import Community, Sessions, StoryWriter


async def test_a_member_writes_a_story_and_reads_it_back(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter
) -> None:
    story = await write_story(tags=["summer", "lake", "summer"])

    response = await client.get(
        f"/api/v1/stories/{story['id']}", headers=community.headers("author")
    )

    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "The summer of 1962"
    assert body["content"] == "She *always* said the lake was warmer in August."
    assert (
        body["content_html"] == "<p>She <em>always</em> said the lake was warmer in August.</p>\n"
    )
    assert body["tags"] == ["summer", "lake"]
    assert body["author_id"] == str(community.people["author"].user_id)
    assert body["version"] == 1
    assert body["moderation_state"] == "visible"
    assert response.headers["etag"] == '"1"'


async def test_a_create_answers_with_location_and_etag(
    client: httpx.AsyncClient, community: Community
) -> None:
    response = await client.post(
        "/api/v1/stories",
        json={"legacy_id": str(community.legacy_id), "title": "T", "content": "C"},
        headers=community.headers("author"),
    )

    assert response.status_code == 201
    assert response.headers["location"] == f"/api/v1/stories/{response.json()['id']}"
    assert response.headers["etag"] == '"1"'
    assert response.json()["visibility"] == "private"  # seed 002's default


async def test_a_create_with_an_idempotency_key_is_made_once(
    client: httpx.AsyncClient, community: Community, owner_sessions: Sessions
) -> None:
    body = {"legacy_id": str(community.legacy_id), "title": "Once", "content": "only once"}
    headers = {**community.headers("author"), "Idempotency-Key": "story-once"}

    first = await client.post("/api/v1/stories", json=body, headers=headers)
    second = await client.post("/api/v1/stories", json=body, headers=headers)

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"
    async with owner_sessions() as session:
        count = len(
            (
                await session.execute(
                    select(Story.id).where(
                        Story.title == "Once", Story.legacy_id == community.legacy_id
                    )
                )
            ).all()
        )
    assert count == 1


@pytest.mark.parametrize("name", ["viewer", "pending", "non_member"])
async def test_only_contributors_of_the_legacy_write_stories(
    client: httpx.AsyncClient, community: Community, name: str
) -> None:
    response = await client.post(
        "/api/v1/stories",
        json={"legacy_id": str(community.legacy_id), "title": "T", "content": "C"},
        headers=community.headers(name),
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ACCESS_DENIED"


async def test_a_story_for_an_unknown_or_foreign_legacy_is_404(
    client: httpx.AsyncClient, community: Community
) -> None:
    for legacy_id in (community.other_tenant_legacy_id, UUID(int=5)):
        response = await client.post(
            "/api/v1/stories",
            json={"legacy_id": str(legacy_id), "title": "T", "content": "C"},
            headers=community.headers("author"),
        )
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "LEGACY_NOT_FOUND"


async def test_a_deleted_legacys_stories_are_not_listed(
    client: httpx.AsyncClient,
    community: Community,
    write_story: StoryWriter,
    owner_sessions: Sessions,
) -> None:
    await write_story(visibility="public")
    async with owner_sessions() as session, session.begin():
        await session.execute(
            update(Legacy).where(Legacy.id == community.legacy_id).values(deleted_at=func.now())
        )

    response = await client.get(
        "/api/v1/stories",
        params={"legacy_id": str(community.legacy_id)},
        headers=community.headers("author"),
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "LEGACY_NOT_FOUND"


async def test_a_legacy_without_stories_lists_an_empty_page(
    client: httpx.AsyncClient, community: Community
) -> None:
    response = await client.get(
        "/api/v1/stories",
        params={"legacy_id": str(community.other_legacy_id)},
        headers=community.headers("owner"),
    )

    assert response.status_code == 200
    assert response.json() == {
        "data": [],
        "pagination": {"limit": 20, "next_cursor": None, "has_more": False},
    }


async def test_the_author_replaces_a_story_and_each_write_is_a_revision(
    client: httpx.AsyncClient,
    community: Community,
    write_story: StoryWriter,
    owner_sessions: Sessions,
) -> None:
    story = await write_story()

    response = await client.put(
        f"/api/v1/stories/{story['id']}",
        json={"title": "New title", "content": "New **content**", "visibility": "public"},
        headers={**community.headers("author"), "If-Match": '"1"'},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["title"], body["visibility"], body["version"], body["tags"]) == (
        "New title",
        "public",
        2,
        [],
    )
    assert response.headers["etag"] == '"2"'
    async with owner_sessions() as session:
        revisions = (
            await session.execute(
                select(StoryRevision.version, StoryRevision.title, StoryRevision.actor_id)
                .where(StoryRevision.story_id == UUID(story["id"]))
                .order_by(StoryRevision.version)
            )
        ).all()
    author = community.people["author"].user_id
    assert revisions == [(1, "The summer of 1962", author), (2, "New title", author)]


async def test_a_patch_changes_only_the_fields_sent(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter
) -> None:
    story = await write_story(tags=["a"])

    response = await client.patch(
        f"/api/v1/stories/{story['id']}",
        json={"title": "Only the title"},
        headers=community.headers("author"),
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["title"], body["content"], body["tags"], body["version"]) == (
        "Only the title",
        story["content"],
        ["a"],
        2,
    )


@pytest.mark.parametrize("body", [{}, {"title": None}])
async def test_an_empty_or_null_patch_is_422(
    client: httpx.AsyncClient,
    community: Community,
    write_story: StoryWriter,
    body: dict[str, object],
) -> None:
    story = await write_story()

    response = await client.patch(
        f"/api/v1/stories/{story['id']}", json=body, headers=community.headers("author")
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("name", ["owner", "editor", "member"])
async def test_only_the_author_updates_a_story(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter, name: str
) -> None:
    story = await write_story(visibility="public")

    response = await client.patch(
        f"/api/v1/stories/{story['id']}",
        json={"title": "Mine now"},
        headers=community.headers(name),
    )

    assert response.status_code == 403


@pytest.mark.parametrize("name", ["author", "owner"])
async def test_the_author_or_the_legacy_owner_deletes_a_story(
    client: httpx.AsyncClient,
    community: Community,
    write_story: StoryWriter,
    owner_sessions: Sessions,
    name: str,
) -> None:
    story = await write_story()

    response = await client.delete(
        f"/api/v1/stories/{story['id']}", headers=community.headers(name)
    )

    assert response.status_code == 204
    gone = await client.get(f"/api/v1/stories/{story['id']}", headers=community.headers("author"))
    assert gone.status_code == 404
    async with owner_sessions() as session:
        row = await session.get(Story, UUID(story["id"]))
    assert row is not None
    assert row.deleted_at is not None
    assert row.actor_id == community.people[name].user_id


@pytest.mark.parametrize("name", ["editor", "member", "viewer"])
async def test_other_members_do_not_delete_a_story(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter, name: str
) -> None:
    story = await write_story()

    response = await client.delete(
        f"/api/v1/stories/{story['id']}", headers=community.headers(name)
    )

    assert response.status_code == 403


async def test_a_deleted_story_leaves_the_list(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter
) -> None:
    kept, deleted = await write_story(), await write_story()
    await client.delete(f"/api/v1/stories/{deleted['id']}", headers=community.headers("author"))

    response = await client.get(
        "/api/v1/stories",
        params={"legacy_id": str(community.legacy_id)},
        headers=community.headers("author"),
    )

    assert [story["id"] for story in response.json()["data"]] == [kept["id"]]


async def test_the_list_is_newest_first_and_paginated(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter
) -> None:
    written = [(await write_story(title=f"Story {n}"))["id"] for n in range(5)]
    headers = community.headers("member")
    params = {"legacy_id": str(community.legacy_id), "limit": "2"}

    seen: list[str] = []
    cursor: str | None = None
    while True:
        response = await client.get(
            "/api/v1/stories",
            params={**params, **({"cursor": cursor} if cursor else {})},
            headers=headers,
        )
        assert response.status_code == 200
        page = response.json()
        seen += [story["id"] for story in page["data"]]
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            break

    assert seen == list(reversed(written))
    assert "etag" in response.headers


async def test_writes_store_their_provenance(
    client: httpx.AsyncClient, community: Community, owner_sessions: Sessions
) -> None:
    response = await client.post(
        "/api/v1/stories",
        json={"legacy_id": str(community.legacy_id), "title": "T", "content": "C"},
        headers={**community.headers("author"), "User-Agent": "story-tests/1"},
    )

    async with owner_sessions() as session:
        story_id = UUID(response.json()["id"])
        story = await session.get(Story, story_id)
        first_revision = (
            await session.execute(select(StoryRevision).where(StoryRevision.story_id == story_id))
        ).scalar_one()
    assert story is not None
    assert story.actor_id == community.people["author"].user_id
    assert story.user_agent == "story-tests/1"
    assert story.source_ip is not None
    assert story.source_ip.startswith("127.")
    # Revision 1 is the story as written, with the same provenance.
    assert (first_revision.version, first_revision.title, first_revision.content) == (1, "T", "C")
    assert (first_revision.actor_id, first_revision.user_agent, first_revision.source_ip) == (
        story.actor_id,
        story.user_agent,
        story.source_ip,
    )


async def test_every_story_write_records_an_event(
    client: httpx.AsyncClient,
    community: Community,
    write_story: StoryWriter,
    owner_sessions: Sessions,
) -> None:
    story = await write_story()
    headers = community.headers("author")
    await client.patch(f"/api/v1/stories/{story['id']}", json={"title": "Two"}, headers=headers)
    await client.post(f"/api/v1/stories/{story['id']}/revisions/1/restore", headers=headers)
    await client.delete(f"/api/v1/stories/{story['id']}", headers=headers)

    events = await outbox_events(owner_sessions, story["id"])

    assert [event.type for event in events] == [
        "StoryCreated",
        "StoryUpdated",
        "StoryRestored",
        "StoryDeleted",
    ]
    assert [event.payload["story_version"] for event in events] == [1, 2, 3, 3]
    assert events[2].payload["restored_from"] == 1
    assert {event.actor_id for event in events} == {str(community.people["author"].user_id)}
    assert all(event.resource_kind == "story" for event in events)
