"""Legacies over HTTP: create, list mine, search, read by id or slug, update, delete."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

import httpx
from sqlalchemy import select

from mosaic.models import Legacy as LegacyRow
from mosaic.models import LegacyMember, MembershipState, ScopeRole
from tests.conftest import Member, TenantFactory, TenantWithKey, outbox_events
from tests.legacies.conftest import (
    LEGACIES,
    GrantFactory,
    Legacy,
    LegacyFactory,
    Sessions,
    error_of,
    event_types,
)

MemberMaker = Callable[..., Awaitable[Member]]


async def test_creating_a_legacy_makes_its_creator_the_owner(
    client: httpx.AsyncClient, community_member: MemberMaker, owner_sessions: Sessions
) -> None:
    creator = await community_member()

    response = await client.post(
        LEGACIES,
        json={
            "name": "  Ada Lovelace ",
            "birth_date": "1815-12-10",
            "death_date": "1852-11-27",
            "biography": "Mathematician.\nWrote the first program.",
        },
        headers={**creator.headers, "User-Agent": "legacy-tests/1.0"},
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "Ada Lovelace"
    assert body["slug"] == "ada-lovelace"
    assert body["created_by"] == str(creator.user_id)
    assert body["version"] == 1
    assert response.headers["Location"] == f"{LEGACIES}/{body['id']}"
    async with owner_sessions() as session:
        row = await session.get(LegacyRow, UUID(body["id"]))
        membership = (
            await session.execute(
                select(LegacyMember).where(LegacyMember.legacy_id == UUID(body["id"]))
            )
        ).scalar_one()
    assert row is not None
    assert (row.actor_id, row.user_agent) == (creator.user_id, "legacy-tests/1.0")
    assert row.source_ip is not None
    assert (membership.user_id, membership.role, membership.state) == (
        creator.user_id,
        ScopeRole.OWNER,
        MembershipState.ACTIVE,
    )
    assert await event_types(owner_sessions, resource_id=row.id) == [
        "LegacyCreated",
        "MemberJoined",
    ]


async def test_slugs_get_a_numeric_suffix_on_collision_and_fold_accents(
    make_legacy: LegacyFactory,
) -> None:
    first = await make_legacy("Émile Zola")
    second = await make_legacy("Emile Zola!")
    third = await make_legacy("émile   zola")
    reserved = await make_legacy("Search")
    symbols = await make_legacy("???")

    assert [first.slug, second.slug, third.slug] == ["emile-zola", "emile-zola-2", "emile-zola-3"]
    assert reserved.slug == "search-2"
    assert symbols.slug == "legacy"


async def test_a_create_retried_with_its_idempotency_key_is_answered_once(
    client: httpx.AsyncClient, community_member: MemberMaker
) -> None:
    creator = await community_member()
    headers = {**creator.headers, "Idempotency-Key": "create-ada-once"}

    first = await client.post(LEGACIES, json={"name": "Ada"}, headers=headers)
    again = await client.post(LEGACIES, json={"name": "Ada"}, headers=headers)
    mine = await client.get(LEGACIES, headers=creator.headers)

    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert [item["id"] for item in mine.json()["data"]] == [first.json()["id"]]


async def test_my_legacies_are_the_active_memberships_page_by_page(
    client: httpx.AsyncClient, make_legacy: LegacyFactory, member_of: GrantFactory
) -> None:
    mine = [await make_legacy(f"Mine {n}") for n in range(3)]
    owner = mine[0].owner
    for legacy in mine[1:]:
        await client.post(
            f"{legacy.url}/invitations", json={}, headers=legacy.owner.headers
        )  # noise: invitations do not make members
    await make_legacy("Someone else's")

    first = await client.get(LEGACIES, params={"limit": 1}, headers=owner.headers)
    assert first.status_code == 200
    assert first.json()["pagination"]["has_more"] is False
    assert [item["id"] for item in first.json()["data"]] == [str(mine[0].id)]

    viewer = await member_of(mine[1], ScopeRole.VIEWER)
    pending = await member_of(mine[2], ScopeRole.VIEWER, state=MembershipState.PENDING)
    assert [
        i["id"] for i in (await client.get(LEGACIES, headers=viewer.headers)).json()["data"]
    ] == [str(mine[1].id)]
    assert (await client.get(LEGACIES, headers=pending.headers)).json()["data"] == []


async def test_pagination_of_my_legacies(
    client: httpx.AsyncClient, make_legacy: LegacyFactory, community_member: MemberMaker
) -> None:
    owner = await community_member()
    made = [await make_legacy(f"Page {n}", owner=owner) for n in range(3)]

    first = (await client.get(LEGACIES, params={"limit": 2}, headers=owner.headers)).json()
    rest = (
        await client.get(
            LEGACIES, params={"cursor": first["pagination"]["next_cursor"]}, headers=owner.headers
        )
    ).json()

    assert first["pagination"]["has_more"] is True
    assert [i["id"] for i in first["data"] + rest["data"]] == [str(legacy.id) for legacy in made]
    assert rest["pagination"] == {"limit": 20, "next_cursor": None, "has_more": False}


async def test_search_tolerates_typos_and_ranks_the_best_match_first(
    client: httpx.AsyncClient, make_legacy: LegacyFactory, community_member: MemberMaker
) -> None:
    margaret = await make_legacy("Margaret Hamilton")
    await make_legacy("Margaret Thatcher")
    await make_legacy("Grace Hopper")
    searcher = await community_member()

    response = await client.get(
        f"{LEGACIES}/search", params={"q": "Margret Hamiltn"}, headers=searcher.headers
    )

    assert response.status_code == 200, response.text
    hits = response.json()["data"]
    assert hits[0]["id"] == str(margaret.id)
    assert "Grace Hopper" not in [hit["name"] for hit in hits]
    assert hits[0]["score"] >= hits[-1]["score"]
    assert "ETag" in response.headers


async def test_search_pages_follow_the_ranking(
    client: httpx.AsyncClient, make_legacy: LegacyFactory, community_member: MemberMaker
) -> None:
    for name in ("Hopper Grace", "Grace Hopper", "Grace Hoppers", "Grace B. Hopper"):
        await make_legacy(name)
    searcher = await community_member()
    url = f"{LEGACIES}/search"

    whole = (await client.get(url, params={"q": "grace hopper"}, headers=searcher.headers)).json()
    first = (
        await client.get(url, params={"q": "grace hopper", "limit": 2}, headers=searcher.headers)
    ).json()
    rest = (
        await client.get(
            url,
            params={"q": "grace hopper", "cursor": first["pagination"]["next_cursor"]},
            headers=searcher.headers,
        )
    ).json()

    assert len(whole["data"]) == 4
    assert [hit["id"] for hit in first["data"] + rest["data"]] == [h["id"] for h in whole["data"]]


async def test_search_never_shows_another_tenants_or_a_deleted_legacy(
    client: httpx.AsyncClient,
    make_legacy: LegacyFactory,
    make_tenant: TenantFactory,
    make_member: Callable[..., Awaitable[Member]],
) -> None:
    kept = await make_legacy("Rosalind Franklin")
    gone = await make_legacy("Rosalind Franklin")
    await client.delete(gone.url, headers=gone.owner.headers)
    other_tenant = await make_tenant()
    outsider = await make_member(other_tenant, ScopeRole.OWNER)
    await make_legacy("Rosalind Franklin", owner=outsider)

    hits = (
        await client.get(f"{LEGACIES}/search", params={"q": "Rosalind"}, headers=kept.owner.headers)
    ).json()["data"]

    assert [hit["id"] for hit in hits] == [str(kept.id)]


async def test_a_legacy_is_read_by_id_or_slug_with_an_etag(
    client: httpx.AsyncClient, legacy: Legacy, community_member: MemberMaker
) -> None:
    reader = await community_member()

    by_id = await client.get(legacy.url, headers=reader.headers)
    by_slug = await client.get(f"{LEGACIES}/{legacy.slug}", headers=reader.headers)
    cached = await client.get(
        legacy.url, headers={**reader.headers, "If-None-Match": by_id.headers["ETag"]}
    )

    assert by_id.status_code == by_slug.status_code == 200
    assert by_id.json() == by_slug.json() == legacy.body
    assert by_id.headers["ETag"] == by_slug.headers["ETag"]
    assert cached.status_code == 304


async def test_an_editor_updates_with_put_and_patch_and_the_slug_stays(
    client: httpx.AsyncClient, legacy: Legacy, member_of: GrantFactory, owner_sessions: Sessions
) -> None:
    editor = await member_of(legacy, ScopeRole.EDITOR)

    put = await client.put(
        legacy.url,
        json={"name": "Augusta Ada King", "birth_date": "1815-12-10", "biography": "Countess."},
        headers=editor.headers,
    )
    patch = await client.patch(legacy.url, json={"biography": None}, headers=editor.headers)

    assert put.status_code == 200, put.text
    assert put.json()["name"] == "Augusta Ada King"
    assert put.json()["slug"] == legacy.slug
    assert put.json()["version"] == 2
    assert patch.json()["biography"] is None
    assert patch.json()["birth_date"] == "1815-12-10"
    assert patch.json()["version"] == 3
    events = await outbox_events(owner_sessions, legacy.id)
    updates = [event.payload for event in events if event.type == "LegacyUpdated"]
    assert [update["changed"] for update in updates] == [
        ["name", "birth_date", "biography"],
        ["biography"],
    ]
    assert events[-1].actor_id == str(editor.user_id)
    async with owner_sessions() as session:
        row = await session.get(LegacyRow, legacy.id)
    assert row is not None
    assert row.actor_id == editor.user_id


async def test_an_update_with_a_stale_if_match_is_refused(
    client: httpx.AsyncClient, legacy: Legacy
) -> None:
    headers = legacy.owner.headers
    etag = (await client.get(legacy.url, headers=headers)).headers["ETag"]

    fresh = await client.patch(
        legacy.url, json={"name": "Ada, Countess"}, headers={**headers, "If-Match": etag}
    )
    stale = await client.patch(
        legacy.url, json={"name": "Ada again"}, headers={**headers, "If-Match": etag}
    )
    current = await client.get(legacy.url, headers=headers)

    assert fresh.status_code == 200, fresh.text
    assert fresh.headers["ETag"] == current.headers["ETag"]
    assert error_of(stale, 412)["code"] == "PRECONDITION_FAILED"
    assert current.json()["name"] == "Ada, Countess"


async def test_a_patch_that_puts_death_before_birth_is_refused(
    client: httpx.AsyncClient, make_legacy: LegacyFactory
) -> None:
    legacy = await make_legacy("Ada", birth_date="1815-12-10")

    response = await client.patch(
        legacy.url, json={"death_date": "1800-01-01"}, headers=legacy.owner.headers
    )

    assert error_of(response, 422)["code"] == "DEATH_BEFORE_BIRTH"


async def test_a_deleted_legacy_is_gone_everywhere(
    client: httpx.AsyncClient, legacy: Legacy, owner_sessions: Sessions
) -> None:
    headers = legacy.owner.headers

    deleted = await client.delete(legacy.url, headers=headers)

    assert deleted.status_code == 204
    for response in (
        await client.get(legacy.url, headers=headers),
        await client.get(f"{LEGACIES}/{legacy.slug}", headers=headers),
        await client.patch(legacy.url, json={"name": "x"}, headers=headers),
        await client.delete(legacy.url, headers=headers),
        await client.get(f"{legacy.url}/members", headers=headers),
        await client.post(f"{legacy.url}/join", headers=headers),
        await client.post(f"{legacy.url}/invitations", json={}, headers=headers),
    ):
        assert error_of(response, 404)["code"] == "LEGACY_NOT_FOUND"
    assert (await client.get(LEGACIES, headers=headers)).json()["data"] == []
    assert (await event_types(owner_sessions, resource_id=legacy.id))[-1] == "LegacyDeleted"
    async with owner_sessions() as session:
        row = await session.get(LegacyRow, legacy.id)
    assert row is not None
    assert row.deleted_at is not None


async def test_a_deleted_legacys_slug_is_not_reused(
    client: httpx.AsyncClient, make_legacy: LegacyFactory
) -> None:
    first = await make_legacy("Alan Turing")
    await client.delete(first.url, headers=first.owner.headers)

    second = await make_legacy("Alan Turing")

    assert second.slug == "alan-turing-2"
    assert (
        await client.get(f"{LEGACIES}/alan-turing", headers=second.owner.headers)
    ).status_code == 404


async def test_an_operators_key_creates_a_legacy_without_an_owner_member(
    client: httpx.AsyncClient, tenant: TenantWithKey, owner_sessions: Sessions
) -> None:
    response = await client.post(LEGACIES, json={"name": "Imported"}, headers=tenant.headers)

    assert response.status_code == 201, response.text
    assert response.json()["created_by"] is None
    legacy_url = f"{LEGACIES}/{response.json()['id']}"
    members = await client.get(f"{legacy_url}/members", headers=tenant.headers)
    assert members.json()["data"] == []
    joined = await client.post(f"{legacy_url}/join", headers=tenant.headers)
    assert error_of(joined, 403)["code"] == "NOT_A_USER"
    events = await outbox_events(owner_sessions, UUID(response.json()["id"]))
    assert [e.type for e in events] == ["LegacyCreated"]
    assert str(events[0].actor_id).startswith("api_key:")
