"""Flags, the moderators' queue, and what each resolution does to the story."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mosaic.models import ScopeRole
from tests.conftest import MemberFactory, outbox_events
from tests.stories.conftest import Community, Sessions, StoryWriter


async def _flag(
    client: httpx.AsyncClient, community: Community, story: dict[str, Any], name: str = "member"
) -> httpx.Response:
    return await client.post(
        f"/api/v1/stories/{story['id']}/flags",
        json={"reason": "privacy", "note": "Names my neighbour"},
        headers=community.headers(name),
    )


async def _resolve(
    client: httpx.AsyncClient,
    community: Community,
    flag_id: str,
    resolution: str,
    name: str = "editor",
) -> httpx.Response:
    return await client.post(
        f"/api/v1/moderation/flags/{flag_id}/resolve",
        json={"resolution": resolution, "note": "Checked"},
        headers=community.headers(name),
    )


async def test_a_reader_flags_a_story_once(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter
) -> None:
    story = await write_story(visibility="public")

    first = await _flag(client, community, story)
    again = await _flag(client, community, story)
    someone_else = await _flag(client, community, story, "non_member")

    assert first.status_code == 201, first.text
    assert first.json()["state"] == "open"
    assert first.json()["flagged_by"] == str(community.people["member"].user_id)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "FLAG_ALREADY_OPEN"
    assert someone_else.status_code == 201


async def test_a_story_one_cannot_read_cannot_be_flagged(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter
) -> None:
    story = await write_story(visibility="private")

    response = await _flag(client, community, story, "pending")

    assert response.status_code == 404


@pytest.mark.parametrize(("name", "sees"), [("editor", True), ("owner", True), ("member", False)])
async def test_the_queue_is_the_moderators(
    client: httpx.AsyncClient,
    community: Community,
    write_story: StoryWriter,
    name: str,
    sees: bool,
) -> None:
    story = await write_story(visibility="public")
    flag = (await _flag(client, community, story)).json()

    response = await client.get(
        "/api/v1/moderation/flags", params={"state": "open"}, headers=community.headers(name)
    )

    assert response.status_code == 200
    assert [f["id"] for f in response.json()["data"]] == ([flag["id"]] if sees else [])


async def test_moderators_of_one_legacy_do_not_see_anothers_flags(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter
) -> None:
    story = await write_story("outsider", legacy_id=community.other_legacy_id, visibility="public")
    await _flag(client, community, story, "author")

    response = await client.get("/api/v1/moderation/flags", headers=community.headers("editor"))

    assert response.json()["data"] == []


async def test_a_tenant_editor_moderates_every_legacy(
    client: httpx.AsyncClient,
    community: Community,
    write_story: StoryWriter,
    make_member: MemberFactory,
) -> None:
    tenant_editor = await make_member(community.tenant, ScopeRole.EDITOR)
    story = await write_story("outsider", legacy_id=community.other_legacy_id, visibility="public")
    flag = (await _flag(client, community, story, "author")).json()

    response = await client.get(
        "/api/v1/moderation/flags", params={"state": "open"}, headers=tenant_editor.headers
    )

    assert [f["id"] for f in response.json()["data"]] == [flag["id"]]


@pytest.mark.parametrize("resolution", ["hidden", "removed"])
async def test_hiding_or_removing_takes_the_story_from_everyone_but_moderators(
    client: httpx.AsyncClient,
    community: Community,
    write_story: StoryWriter,
    resolution: str,
) -> None:
    story = await write_story(visibility="public")
    flag = (await _flag(client, community, story)).json()

    resolved = await _resolve(client, community, flag["id"], resolution)

    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert (body["state"], body["resolution"]) == ("resolved", resolution)
    assert body["resolved_by"] == str(community.people["editor"].user_id)
    for name in ("author", "member", "non_member"):
        read = await client.get(f"/api/v1/stories/{story['id']}", headers=community.headers(name))
        listed = await client.get(
            "/api/v1/stories",
            params={"legacy_id": str(community.legacy_id)},
            headers=community.headers(name),
        )
        assert read.status_code == 404, name
        assert listed.json()["data"] == [], name
    moderator = await client.get(
        f"/api/v1/stories/{story['id']}", headers=community.headers("owner")
    )
    assert moderator.json()["moderation_state"] == resolution


async def test_a_dismissed_flag_leaves_the_story_alone(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter
) -> None:
    story = await write_story(visibility="public")
    flag = (await _flag(client, community, story)).json()

    resolved = await _resolve(client, community, flag["id"], "dismissed")
    again = await _resolve(client, community, flag["id"], "hidden")
    read = await client.get(f"/api/v1/stories/{story['id']}", headers=community.headers("member"))
    queue = await client.get(
        "/api/v1/moderation/flags", params={"state": "open"}, headers=community.headers("editor")
    )
    reflag = await _flag(client, community, story)

    assert resolved.json()["resolution"] == "dismissed"
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "FLAG_ALREADY_RESOLVED"
    assert read.json()["moderation_state"] == "visible"
    assert queue.json()["data"] == []
    assert reflag.status_code == 201  # the earlier flag is closed: a new one may be raised


async def test_non_moderators_cannot_resolve(
    client: httpx.AsyncClient, community: Community, write_story: StoryWriter
) -> None:
    story = await write_story(visibility="public")
    flag = (await _flag(client, community, story)).json()

    by_flagger = await _resolve(client, community, flag["id"], "dismissed", "member")
    by_other = await _resolve(client, community, flag["id"], "dismissed", "viewer")

    assert by_flagger.status_code == 403  # they may see their own flag, not decide it
    assert by_other.status_code == 404


async def test_flagging_and_resolving_record_events(
    client: httpx.AsyncClient,
    community: Community,
    write_story: StoryWriter,
    owner_sessions: Sessions,
) -> None:
    story = await write_story(visibility="public")
    flag = (await _flag(client, community, story)).json()
    await _resolve(client, community, flag["id"], "hidden")

    events = await outbox_events(owner_sessions, flag["id"])

    assert [event.type for event in events] == ["ModerationFlagged", "ModerationResolved"]
    assert events[0].payload["reason"] == "privacy"
    assert events[1].payload["resolution"] == "hidden"
    assert events[1].payload["story_id"] == story["id"]
