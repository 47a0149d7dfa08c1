"""Revisions, restore, and optimistic concurrency: ETags, If-Match and two racing writers."""

from __future__ import annotations

import asyncio
from uuid import UUID

import httpx
import pytest
from sqlalchemy import select, text

from mosaic.models import StoryRevision
from tests.stories.conftest import Community, Sessions, StoryWriter


async def test_revisions_are_listed_newest_first_and_read_one_by_one(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter
) -> None:
    story = await write_story(content="first")
    headers = community.headers("author")
    for content in ("second", "third"):
        await client.patch(
            f"/api/v1/stories/{story['id']}", json={"content": content}, headers=headers
        )

    listed = await client.get(f"/api/v1/stories/{story['id']}/revisions", headers=headers)
    one = await client.get(f"/api/v1/stories/{story['id']}/revisions/2", headers=headers)
    missing = await client.get(f"/api/v1/stories/{story['id']}/revisions/9", headers=headers)

    assert [r["version"] for r in listed.json()["data"]] == [3, 2, 1]
    assert [r["content"] for r in listed.json()["data"]] == ["third", "second", "first"]
    assert one.json()["content"] == "second"
    assert "etag" in one.headers
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "REVISION_NOT_FOUND"


async def test_restoring_brings_an_old_revision_back_as_a_new_one(
    client: httpx.AsyncClient,
    community: Community,
    write_story: StoryWriter,
    owner_sessions: Sessions,
) -> None:
    story = await write_story(content="original", visibility="private", tags=["old"])
    headers = community.headers("author")
    await client.put(
        f"/api/v1/stories/{story['id']}",
        json={"title": "Changed", "content": "changed", "visibility": "public", "tags": []},
        headers=headers,
    )

    response = await client.post(
        f"/api/v1/stories/{story['id']}/revisions/1/restore",
        headers={**headers, "If-Match": '"2"'},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["content"], body["visibility"], body["tags"], body["version"]) == (
        "original",
        "private",
        ["old"],
        3,
    )
    assert response.headers["etag"] == '"3"'
    async with owner_sessions() as session:
        revisions = (
            await session.execute(
                select(StoryRevision.version, StoryRevision.restored_from)
                .where(StoryRevision.story_id == UUID(story["id"]))
                .order_by(StoryRevision.version)
            )
        ).all()
    assert revisions == [(1, None), (2, None), (3, 1)]


@pytest.mark.parametrize("name", ["member", "viewer"])
async def test_the_history_is_for_the_author_and_moderators(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter, name: str
) -> None:
    story = await write_story(visibility="public")

    readers = await client.get(
        f"/api/v1/stories/{story['id']}/revisions", headers=community.headers(name)
    )
    moderator = await client.get(
        f"/api/v1/stories/{story['id']}/revisions", headers=community.headers("editor")
    )
    restore = await client.post(
        f"/api/v1/stories/{story['id']}/revisions/1/restore", headers=community.headers(name)
    )

    assert readers.status_code == 403
    assert moderator.status_code == 200
    assert restore.status_code == 403


@pytest.mark.parametrize("if_match", ['"1"', "1", "*", '"0", "1"'])
async def test_a_current_if_match_lets_the_write_through(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter, if_match: str
) -> None:
    story = await write_story()

    response = await client.patch(
        f"/api/v1/stories/{story['id']}",
        json={"title": "Fresh"},
        headers={**community.headers("author"), "If-Match": if_match},
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "", {"title": "t", "content": "c", "visibility": "public"}),
        ("PATCH", "", {"title": "t"}),
        ("DELETE", "", None),
        ("POST", "/revisions/1/restore", None),
    ],
)
@pytest.mark.parametrize("if_match", ['"2"', "2", 'W/"1"', "not-a-version"])
async def test_a_stale_if_match_is_412(
    client: httpx.AsyncClient,
    community: Community,
    write_story: StoryWriter,
    method: str,
    path: str,
    body: dict[str, str] | None,
    if_match: str,
) -> None:
    story = await write_story()

    response = await client.request(
        method,
        f"/api/v1/stories/{story['id']}{path}",
        json=body,
        headers={**community.headers("author"), "If-Match": if_match},
    )

    assert response.status_code == 412, response.text
    error = response.json()["error"]
    assert error["code"] == "STORY_CHANGED"
    assert error["details"] == {"current_etag": '"1"'}
    unchanged = await client.get(
        f"/api/v1/stories/{story['id']}", headers=community.headers("author")
    )
    assert unchanged.json()["version"] == 1


async def test_a_read_answers_304_to_its_own_etag(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter
) -> None:
    story = await write_story()
    headers = community.headers("author")

    same = await client.get(
        f"/api/v1/stories/{story['id']}", headers={**headers, "If-None-Match": '"1"'}
    )
    await client.patch(f"/api/v1/stories/{story['id']}", json={"title": "2"}, headers=headers)
    changed = await client.get(
        f"/api/v1/stories/{story['id']}", headers={**headers, "If-None-Match": '"1"'}
    )

    assert same.status_code == 304
    assert changed.status_code == 200
    assert changed.headers["etag"] == '"2"'


async def test_of_two_concurrent_writers_exactly_one_wins(
    client: httpx.AsyncClient,
    community: Community,
    write_story: StoryWriter,
    owner_sessions: Sessions,
) -> None:
    story = await write_story()
    headers = {**community.headers("author"), "If-Match": '"1"'}

    responses = await asyncio.gather(
        *(
            client.patch(
                f"/api/v1/stories/{story['id']}", json={"title": f"Writer {n}"}, headers=headers
            )
            for n in range(2)
        )
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 412]
    winner = next(response for response in responses if response.status_code == 200)
    current = await client.get(
        f"/api/v1/stories/{story['id']}", headers=community.headers("author")
    )
    assert current.json()["title"] == winner.json()["title"]
    assert current.json()["version"] == 2
    async with owner_sessions() as session:
        versions = (
            await session.execute(
                select(StoryRevision.version).where(StoryRevision.story_id == UUID(story["id"]))
            )
        ).scalars()
        assert sorted(versions) == [1, 2]


async def test_without_if_match_a_writer_that_loses_the_race_gets_a_conflict(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter
) -> None:
    story = await write_story()
    headers = community.headers("author")

    responses = await asyncio.gather(
        *(
            client.patch(
                f"/api/v1/stories/{story['id']}", json={"title": f"Writer {n}"}, headers=headers
            )
            for n in range(4)
        )
    )

    # Each writer either lands (on the version it read) or is told it lost: never two writes
    # on one version, never a silent overwrite of a version it did not read.
    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {200, 409}
    assert 200 in statuses
    versions = [response.json()["version"] for response in responses if response.status_code == 200]
    assert len(versions) == len(set(versions))


async def _writers_waiting_on_a_lock(sessions: Sessions, count: int) -> None:
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        async with sessions() as session:
            waiting = (
                await session.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE stories%'"
                    )
                )
            ).scalar_one()
        if waiting >= count:
            return
        assert asyncio.get_running_loop().time() < deadline, "the writers never met"
        await asyncio.sleep(0.05)


async def test_two_writers_that_read_the_same_version_cannot_both_update_it(
    client: httpx.AsyncClient,
    community: Community,
    write_story: StoryWriter,
    owner_sessions: Sessions,
) -> None:
    story = await write_story()
    headers = {**community.headers("author"), "If-Match": '"1"'}

    # Hold the row so both writers pass their read (version 1, If-Match holds) and queue on
    # the UPDATE: only the compare-and-set can now tell them apart.
    async with owner_sessions() as blocker, blocker.begin():
        await blocker.execute(
            text("SELECT 1 FROM stories WHERE id = :id FOR UPDATE"), {"id": UUID(story["id"])}
        )
        writers = [
            asyncio.create_task(
                client.patch(
                    f"/api/v1/stories/{story['id']}", json={"title": f"W{n}"}, headers=headers
                )
            )
            for n in range(2)
        ]
        await _writers_waiting_on_a_lock(owner_sessions, 2)
    responses = await asyncio.gather(*writers)

    assert sorted(response.status_code for response in responses) == [200, 412]
