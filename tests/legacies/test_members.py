"""Legacy members over HTTP: asking to join, approving, rejecting, roles, the last owner rule,
leaving, and the events each writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from mosaic.models import MembershipState, ScopeRole
from tests.conftest import Member, outbox_events
from tests.legacies.conftest import GrantFactory, Legacy, Sessions, error_of

MemberMaker = Callable[..., Awaitable[Member]]


def _member_url(legacy: Legacy, member: Member) -> str:
    return f"{legacy.url}/members/{member.user_id}"


async def test_asking_to_join_leaves_a_pending_request_an_owner_approves(
    client: httpx.AsyncClient,
    legacy: Legacy,
    community_member: MemberMaker,
    owner_sessions: Sessions,
) -> None:
    asker = await community_member()

    asked = await client.post(f"{legacy.url}/join", headers=asker.headers)
    before = await client.get(f"{legacy.url}/members", headers=asker.headers)
    approved = await client.post(
        f"{_member_url(legacy, asker)}/approve",
        json={"role": "editor"},
        headers=legacy.owner.headers,
    )
    after = await client.get(f"{legacy.url}/members", headers=asker.headers)

    assert asked.status_code == 201, asked.text
    assert (asked.json()["state"], asked.json()["joined_at"]) == ("pending", None)
    # A pending requester sees their own request only.
    assert [m["user_id"] for m in before.json()["data"]] == [str(asker.user_id)]
    assert approved.status_code == 200, approved.text
    assert (approved.json()["state"], approved.json()["role"]) == ("active", "editor")
    assert approved.json()["approved_by"] == str(legacy.owner.user_id)
    assert sorted(m["user_id"] for m in after.json()["data"]) == sorted(
        [str(asker.user_id), str(legacy.owner.user_id)]
    )
    events = [
        (event.type, event.payload)
        for event in await outbox_events(owner_sessions, legacy.id)
        if event.type.startswith("Member")
    ]
    assert events[-2:] == [
        ("MemberRequested", {"resource_id": str(legacy.id), "user_id": str(asker.user_id)}),
        (
            "MemberJoined",
            {
                "resource_id": str(legacy.id),
                "user_id": str(asker.user_id),
                "role": "editor",
                "via": "approved",
            },
        ),
    ]


async def test_approving_without_a_role_makes_a_contributor(
    client: httpx.AsyncClient, legacy: Legacy, member_of: GrantFactory
) -> None:
    asker = await member_of(legacy, ScopeRole.VIEWER, state=MembershipState.PENDING)

    approved = await client.post(
        f"{_member_url(legacy, asker)}/approve", headers=legacy.owner.headers
    )

    assert approved.json()["role"] == "contributor"


async def test_asking_twice_or_as_a_member_is_a_conflict(
    client: httpx.AsyncClient, legacy: Legacy, community_member: MemberMaker
) -> None:
    asker = await community_member()
    await client.post(f"{legacy.url}/join", headers=asker.headers)

    again = await client.post(f"{legacy.url}/join", headers=asker.headers)
    owner = await client.post(f"{legacy.url}/join", headers=legacy.owner.headers)

    assert error_of(again, 409)["code"] == "JOIN_ALREADY_REQUESTED"
    assert error_of(owner, 409)["code"] == "ALREADY_A_LEGACY_MEMBER"


async def test_approving_an_active_member_is_a_conflict(
    client: httpx.AsyncClient, legacy: Legacy, member_of: GrantFactory
) -> None:
    viewer = await member_of(legacy, ScopeRole.VIEWER)

    response = await client.post(
        f"{_member_url(legacy, viewer)}/approve", headers=legacy.owner.headers
    )

    assert error_of(response, 409)["code"] == "MEMBERSHIP_NOT_PENDING"


async def test_an_owner_rejects_a_request_by_removing_it(
    client: httpx.AsyncClient, legacy: Legacy, member_of: GrantFactory, owner_sessions: Sessions
) -> None:
    asker = await member_of(legacy, ScopeRole.CONTRIBUTOR, state=MembershipState.PENDING)

    rejected = await client.delete(_member_url(legacy, asker), headers=legacy.owner.headers)
    again = await client.delete(_member_url(legacy, asker), headers=legacy.owner.headers)

    assert rejected.status_code == 204
    assert error_of(again, 404)["code"] == "LEGACY_MEMBER_NOT_FOUND"
    last = (await outbox_events(owner_sessions, legacy.id))[-1]
    assert (last.type, last.payload["was_pending"]) == ("MemberRemoved", True)


async def test_an_owner_changes_a_role(
    client: httpx.AsyncClient, legacy: Legacy, member_of: GrantFactory, owner_sessions: Sessions
) -> None:
    viewer = await member_of(legacy, ScopeRole.VIEWER)

    response = await client.patch(
        _member_url(legacy, viewer), json={"role": "editor"}, headers=legacy.owner.headers
    )
    now_editor = await client.patch(legacy.url, json={"biography": "x"}, headers=viewer.headers)

    assert response.status_code == 200, response.text
    assert response.json()["role"] == "editor"
    assert now_editor.status_code == 200
    changed = [
        e.payload
        for e in await outbox_events(owner_sessions, legacy.id)
        if e.type == "MemberRoleChanged"
    ]
    assert changed == [
        {
            "resource_id": str(legacy.id),
            "user_id": str(viewer.user_id),
            "previous_role": "viewer",
            "role": "editor",
        }
    ]


async def test_the_last_owner_can_be_neither_demoted_nor_leave(
    client: httpx.AsyncClient, legacy: Legacy, member_of: GrantFactory
) -> None:
    owner = legacy.owner

    demoted = await client.patch(
        _member_url(legacy, owner), json={"role": "viewer"}, headers=owner.headers
    )
    left = await client.post(f"{legacy.url}/leave", headers=owner.headers)
    removed = await client.delete(_member_url(legacy, owner), headers=owner.headers)

    for response in (demoted, left, removed):
        assert error_of(response, 409)["code"] == "LAST_LEGACY_OWNER"

    second = await member_of(legacy, ScopeRole.OWNER)
    assert (await client.post(f"{legacy.url}/leave", headers=owner.headers)).status_code == 204
    last = await client.patch(
        _member_url(legacy, second), json={"role": "editor"}, headers=second.headers
    )
    assert error_of(last, 409)["code"] == "LAST_LEGACY_OWNER"


async def test_a_member_leaves_and_a_requester_withdraws(
    client: httpx.AsyncClient, legacy: Legacy, member_of: GrantFactory, owner_sessions: Sessions
) -> None:
    contributor = await member_of(legacy, ScopeRole.CONTRIBUTOR)
    pending = await member_of(legacy, ScopeRole.CONTRIBUTOR, state=MembershipState.PENDING)

    left = await client.post(f"{legacy.url}/leave", headers=contributor.headers)
    withdrawn = await client.post(f"{legacy.url}/leave", headers=pending.headers)
    again = await client.post(f"{legacy.url}/leave", headers=contributor.headers)

    assert left.status_code == withdrawn.status_code == 204
    # No longer a member: nothing to leave.
    assert error_of(again, 404)["code"] == "LEGACY_MEMBER_NOT_FOUND"
    listed = await client.get(f"{legacy.url}/members", headers=legacy.owner.headers)
    assert [m["user_id"] for m in listed.json()["data"]] == [str(legacy.owner.user_id)]
    left_events = [
        e.payload["user_id"]
        for e in await outbox_events(owner_sessions, legacy.id)
        if e.type == "MemberLeft"
    ]
    assert left_events == [str(contributor.user_id), str(pending.user_id)]


async def test_members_are_listed_page_by_page(
    client: httpx.AsyncClient, legacy: Legacy, member_of: GrantFactory
) -> None:
    others = [await member_of(legacy, ScopeRole.VIEWER) for _ in range(2)]
    url = f"{legacy.url}/members"

    first = (await client.get(url, params={"limit": 2}, headers=others[0].headers)).json()
    rest = (
        await client.get(
            url, params={"cursor": first["pagination"]["next_cursor"]}, headers=others[0].headers
        )
    ).json()

    listed = [m["user_id"] for m in first["data"] + rest["data"]]
    assert first["pagination"]["has_more"] is True
    assert sorted(listed) == sorted(str(m.user_id) for m in [legacy.owner, *others])
    assert listed == sorted(listed)


async def test_a_member_of_another_legacy_cannot_manage_this_one(
    client: httpx.AsyncClient, legacy: Legacy, make_legacy: Callable[..., Awaitable[Legacy]]
) -> None:
    other = await make_legacy("Someone Else")
    headers = other.owner.headers

    for response in (
        await client.get(f"{legacy.url}/members", headers=headers),
        await client.patch(
            _member_url(legacy, legacy.owner), json={"role": "viewer"}, headers=headers
        ),
        await client.delete(_member_url(legacy, legacy.owner), headers=headers),
        await client.post(f"{_member_url(legacy, legacy.owner)}/approve", headers=headers),
    ):
        assert error_of(response, 403)["code"] == "ACCESS_DENIED"
