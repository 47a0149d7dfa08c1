"""Who may do what with media: the role matrix, and ids from elsewhere answering 404."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from mosaic.identity.schemas import KNOWN_SCOPES
from mosaic.models import ScopeRole
from tests.conftest import MemberFactory, TenantWithKey
from tests.media.conftest import Circle, JoinLegacy, Uploads, jpeg_bytes

TenantFactory = Callable[..., Awaitable[TenantWithKey]]


@pytest.fixture
async def stranger_circle(
    make_tenant: TenantFactory,
    make_member: MemberFactory,
    make_legacy: Callable[..., Awaitable[Any]],
    join_legacy: JoinLegacy,
) -> Circle:
    """Another tenant's legacy and people."""
    tenant = await make_tenant()
    legacy_id = await make_legacy(tenant)
    people = {}
    for name, role in (
        ("owner", ScopeRole.OWNER),
        ("contributor", ScopeRole.CONTRIBUTOR),
        ("viewer", ScopeRole.VIEWER),
    ):
        people[name] = await make_member(tenant, ScopeRole.CONTRIBUTOR)
        await join_legacy(people[name], legacy_id, role)
    outsider = await make_member(tenant, ScopeRole.CONTRIBUTOR)
    return Circle(tenant=tenant, legacy_id=legacy_id, outsider=outsider, **people)


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 200), ("contributor", 200), ("viewer", 200), ("outsider", 404)]
)
async def test_who_reads_a_legacy_s_media(
    client: httpx.AsyncClient, uploads: Uploads, circle: Circle, who: str, status: int
) -> None:
    ready = await uploads.upload(circle.contributor, circle.legacy_id, jpeg_bytes())
    member = getattr(circle, who)

    read = await client.get(f"/api/v1/media/{ready['id']}", headers=member.headers)

    assert read.status_code == status


@pytest.mark.parametrize(
    ("who", "sees"), [("owner", True), ("contributor", True), ("viewer", True), ("outsider", False)]
)
async def test_who_lists_a_legacy_s_media(
    client: httpx.AsyncClient, uploads: Uploads, circle: Circle, who: str, sees: bool
) -> None:
    ready = await uploads.upload(circle.contributor, circle.legacy_id, jpeg_bytes())
    member = getattr(circle, who)

    listed = await client.get(
        "/api/v1/media", params={"legacy_id": str(circle.legacy_id)}, headers=member.headers
    )

    assert listed.status_code == 200
    assert ([item["id"] for item in listed.json()["data"]] == [ready["id"]]) is sees


@pytest.mark.parametrize(
    ("who", "status"),
    [("viewer", 403), ("outsider", 404), ("other_contributor", 403), ("owner", 204),
     ("contributor", 204)],
)  # fmt: skip
async def test_who_deletes_media(
    client: httpx.AsyncClient,
    uploads: Uploads,
    circle: Circle,
    make_member: MemberFactory,
    join_legacy: JoinLegacy,
    who: str,
    status: int,
) -> None:
    ready = await uploads.upload(circle.contributor, circle.legacy_id, jpeg_bytes())
    if who == "other_contributor":
        member = await make_member(circle.tenant, ScopeRole.CONTRIBUTOR)
        await join_legacy(member, circle.legacy_id, ScopeRole.CONTRIBUTOR)
    else:
        member = getattr(circle, who)

    deleted = await client.delete(f"/api/v1/media/{ready['id']}", headers=member.headers)

    assert deleted.status_code == status
    still_there = await client.get(
        f"/api/v1/media/{ready['id']}", headers=circle.contributor.headers
    )
    assert still_there.status_code == (404 if status == 204 else 200)


async def test_own_media_stay_visible_after_leaving_the_legacy(
    client: httpx.AsyncClient, uploads: Uploads, circle: Circle, owner_sessions: Any
) -> None:
    from sqlalchemy import delete

    from mosaic.models import LegacyMember

    ready = await uploads.upload(circle.contributor, circle.legacy_id, jpeg_bytes())
    async with owner_sessions() as session, session.begin():
        await session.execute(
            delete(LegacyMember).where(LegacyMember.user_id == circle.contributor.user_id)
        )

    listed = await client.get("/api/v1/media", headers=circle.contributor.headers)
    read = await client.get(f"/api/v1/media/{ready['id']}", headers=circle.contributor.headers)

    assert [item["id"] for item in listed.json()["data"]] == [ready["id"]]
    assert read.status_code == 200


async def test_a_pending_upload_is_its_uploader_s_alone(
    client: httpx.AsyncClient, uploads: Uploads, circle: Circle
) -> None:
    presigned = await uploads.presign(circle.contributor, circle.legacy_id, size=100)
    media_id = presigned.json()["media"]["id"]

    by_owner = await client.get(f"/api/v1/media/{media_id}", headers=circle.owner.headers)
    listed = await client.get(
        "/api/v1/media", params={"legacy_id": str(circle.legacy_id)}, headers=circle.owner.headers
    )
    registered_by_owner = await uploads.register(circle.owner, media_id)
    by_uploader = await client.get(f"/api/v1/media/{media_id}", headers=circle.contributor.headers)

    assert by_owner.status_code == 404
    assert listed.json()["data"] == []
    assert registered_by_owner.status_code == 404
    assert by_uploader.status_code == 200
    assert by_uploader.json()["download_url"] is None


@pytest.mark.parametrize(("who", "status"), [("viewer", 403), ("outsider", 403)])
async def test_only_contributors_upload(
    uploads: Uploads, circle: Circle, who: str, status: int
) -> None:
    response = await uploads.presign(getattr(circle, who), circle.legacy_id, size=100)

    assert response.status_code == status


async def test_a_key_without_a_user_cannot_upload(uploads: Uploads, circle: Circle) -> None:
    response = await uploads.client.post(
        "/api/v1/media/presign",
        json={
            "legacy_id": str(circle.legacy_id),
            "filename": "a.jpg",
            "content_type": "image/jpeg",
            "size_bytes": 10,
        },
        headers=circle.tenant.headers,
    )

    assert response.status_code == 403


async def test_a_key_without_the_media_scopes_is_refused(
    client: httpx.AsyncClient,
    uploads: Uploads,
    circle: Circle,
    make_member: MemberFactory,
    join_legacy: JoinLegacy,
) -> None:
    scopes = frozenset(KNOWN_SCOPES - {"media:read", "media:write"})
    member = await make_member(circle.tenant, ScopeRole.CONTRIBUTOR, scopes=scopes)
    await join_legacy(member, circle.legacy_id, ScopeRole.OWNER)
    ready = await uploads.upload(circle.contributor, circle.legacy_id, jpeg_bytes())

    presigned = await uploads.presign(member, circle.legacy_id, size=10)
    listed = await client.get("/api/v1/media", headers=member.headers)
    read = await client.get(f"/api/v1/media/{ready['id']}", headers=member.headers)

    for response in (presigned, listed, read):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "MISSING_SCOPE"


async def test_another_tenant_s_ids_are_not_found_on_every_endpoint(
    client: httpx.AsyncClient, uploads: Uploads, circle: Circle, stranger_circle: Circle
) -> None:
    theirs = await uploads.upload(
        stranger_circle.contributor, stranger_circle.legacy_id, jpeg_bytes()
    )
    pending = await uploads.presign(stranger_circle.contributor, stranger_circle.legacy_id, size=10)
    me = circle.owner

    responses = {
        "read": await client.get(f"/api/v1/media/{theirs['id']}", headers=me.headers),
        "delete": await client.delete(f"/api/v1/media/{theirs['id']}", headers=me.headers),
        "register": await uploads.register(me, pending.json()["media"]["id"]),
        "list": await client.get(
            "/api/v1/media", params={"legacy_id": str(stranger_circle.legacy_id)},
            headers=me.headers,
        ),
        "presign": await uploads.presign(me, stranger_circle.legacy_id, size=10),
    }  # fmt: skip

    assert {name: response.status_code for name, response in responses.items()} == dict.fromkeys(
        responses, 404
    )
    everything = await client.get("/api/v1/media", headers=me.headers)
    assert everything.json()["data"] == []
    still = await client.get(
        f"/api/v1/media/{theirs['id']}", headers=stranger_circle.contributor.headers
    )
    assert still.status_code == 200


async def test_another_legacy_s_media_are_not_found(
    client: httpx.AsyncClient,
    uploads: Uploads,
    circle: Circle,
    make_legacy: Callable[..., Awaitable[Any]],
    join_legacy: JoinLegacy,
) -> None:
    other_legacy = await make_legacy(circle.tenant)
    await join_legacy(circle.outsider, other_legacy, ScopeRole.CONTRIBUTOR)
    theirs = await uploads.upload(circle.outsider, other_legacy, jpeg_bytes())

    read = await client.get(f"/api/v1/media/{theirs['id']}", headers=circle.owner.headers)
    deleted = await client.delete(f"/api/v1/media/{theirs['id']}", headers=circle.owner.headers)
    listed = await client.get(
        "/api/v1/media", params={"legacy_id": str(other_legacy)}, headers=circle.owner.headers
    )

    assert read.status_code == deleted.status_code == 404
    assert listed.json()["data"] == []


async def test_lists_are_paginated(
    client: httpx.AsyncClient, uploads: Uploads, circle: Circle
) -> None:
    ids = sorted([
        (await uploads.upload(circle.contributor, circle.legacy_id, jpeg_bytes()))["id"]
        for _ in range(3)
    ])  # fmt: skip

    first = await client.get("/api/v1/media", params={"limit": 2}, headers=circle.viewer.headers)
    cursor = first.json()["pagination"]["next_cursor"]
    second = await client.get(
        "/api/v1/media", params={"limit": 2, "cursor": cursor}, headers=circle.viewer.headers
    )

    assert [item["id"] for item in first.json()["data"]] == ids[:2]
    assert [item["id"] for item in second.json()["data"]] == ids[2:]
    assert second.json()["pagination"]["has_more"] is False
