"""IDOR attempts: ids that exist, but in another tenant or under another legacy, answer 404
exactly like ids that never existed."""

from __future__ import annotations

import httpx

from mosaic.models import ScopeRole
from tests.conftest import MemberFactory, TenantFactory
from tests.legacies.conftest import LEGACIES, Legacy, LegacyFactory, error_of


async def test_another_tenants_legacy_is_not_found_by_id_or_slug(
    client: httpx.AsyncClient,
    legacy: Legacy,
    make_tenant: TenantFactory,
    make_member: MemberFactory,
    make_legacy: LegacyFactory,
) -> None:
    outsider = await make_member(await make_tenant(), ScopeRole.OWNER)
    theirs = await make_legacy("Ada Lovelace", owner=outsider)
    headers = legacy.owner.headers

    # Same name, same slug, two tenants: each sees only its own.
    assert theirs.slug == legacy.slug
    assert (await client.get(f"{LEGACIES}/{legacy.slug}", headers=headers)).json()["id"] == str(
        legacy.id
    )
    for response in (
        await client.get(theirs.url, headers=headers),
        await client.put(theirs.url, json={"name": "Mine now"}, headers=headers),
        await client.delete(theirs.url, headers=headers),
        await client.post(f"{theirs.url}/join", headers=headers),
        await client.get(f"{theirs.url}/members", headers=headers),
        await client.post(f"{theirs.url}/invitations", json={}, headers=headers),
    ):
        assert error_of(response, 404)["code"] == "LEGACY_NOT_FOUND"
    untouched = await client.get(theirs.url, headers=outsider.headers)
    assert untouched.json()["name"] == "Ada Lovelace"


async def test_another_tenants_user_is_no_member_here(
    client: httpx.AsyncClient,
    legacy: Legacy,
    make_tenant: TenantFactory,
    make_member: MemberFactory,
) -> None:
    outsider = await make_member(await make_tenant(), ScopeRole.OWNER)
    url = f"{legacy.url}/members/{outsider.user_id}"
    headers = legacy.owner.headers

    for response in (
        await client.patch(url, json={"role": "viewer"}, headers=headers),
        await client.delete(url, headers=headers),
        await client.post(f"{url}/approve", headers=headers),
    ):
        assert error_of(response, 404)["code"] == "LEGACY_MEMBER_NOT_FOUND"


async def test_an_invitation_is_revoked_only_under_its_own_legacy(
    client: httpx.AsyncClient, make_legacy: LegacyFactory
) -> None:
    first = await make_legacy("First")
    second = await make_legacy("Second", owner=first.owner)
    invitation = (
        await client.post(f"{second.url}/invitations", json={}, headers=first.owner.headers)
    ).json()

    crossed = await client.delete(
        f"{first.url}/invitations/{invitation['id']}", headers=first.owner.headers
    )

    assert error_of(crossed, 404)["code"] == "LEGACY_INVITATION_NOT_FOUND"


async def test_a_member_of_one_legacy_cannot_manage_members_of_another_through_it(
    client: httpx.AsyncClient, make_legacy: LegacyFactory
) -> None:
    mine = await make_legacy("Mine")
    theirs = await make_legacy("Theirs")

    # Owner of "mine" addressing the owner of "theirs" under "mine": not a member there.
    response = await client.delete(
        f"{mine.url}/members/{theirs.owner.user_id}", headers=mine.owner.headers
    )
    # ... and under "theirs": not allowed.
    refused = await client.delete(
        f"{theirs.url}/members/{theirs.owner.user_id}", headers=mine.owner.headers
    )

    assert error_of(response, 404)["code"] == "LEGACY_MEMBER_NOT_FOUND"
    assert error_of(refused, 403)["code"] == "ACCESS_DENIED"
