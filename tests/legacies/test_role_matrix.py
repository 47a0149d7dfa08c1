"""Who may do what to a legacy, endpoint by endpoint, for every kind of caller: the legacy's
owner, editor, contributor and viewer, a pending requester, a member of the tenant with no
role in the legacy, an owner of the tenant (who inherits ownership of its legacies), and a
member of another tenant (who learns nothing: 404)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from mosaic.models import MembershipState, ScopeRole
from tests.conftest import Member, MemberFactory, TenantFactory, TenantWithKey
from tests.legacies.conftest import ACCEPT, LEGACIES, GrantFactory, Legacy

ACTORS = (
    "owner",
    "editor",
    "contributor",
    "viewer",
    "pending",
    "non_member",
    "tenant_owner",
    "other_tenant",
)


@dataclass(frozen=True)
class World:
    legacy: Legacy
    requester: Member  # a pending request to join
    viewer: Member  # a viewer the owners may manage
    invitation_id: str
    link_token: str
    actors: dict[str, Member]


@pytest.fixture
async def world(
    client: httpx.AsyncClient,
    tenant: TenantWithKey,
    legacy: Legacy,
    member_of: GrantFactory,
    community_member: Callable[..., Awaitable[Member]],
    make_member: MemberFactory,
    make_tenant: TenantFactory,
) -> World:
    invitation = await client.post(
        f"{legacy.url}/invitations", json={"role": "viewer"}, headers=legacy.owner.headers
    )
    assert invitation.status_code == 201, invitation.text
    actors = {
        "owner": legacy.owner,
        "editor": await member_of(legacy, ScopeRole.EDITOR),
        "contributor": await member_of(legacy, ScopeRole.CONTRIBUTOR),
        "viewer": await member_of(legacy, ScopeRole.VIEWER),
        "pending": await member_of(legacy, ScopeRole.EDITOR, state=MembershipState.PENDING),
        "non_member": await community_member(),
        "tenant_owner": await make_member(tenant, ScopeRole.OWNER),
        "other_tenant": await make_member(await make_tenant(), ScopeRole.OWNER),
    }
    return World(
        legacy=legacy,
        requester=await member_of(legacy, ScopeRole.CONTRIBUTOR, state=MembershipState.PENDING),
        viewer=await member_of(legacy, ScopeRole.VIEWER),
        invitation_id=invitation.json()["id"],
        link_token=invitation.json()["token"],
        actors=actors,
    )


Call = Callable[[httpx.AsyncClient, World, dict[str, str]], Awaitable[httpx.Response]]


def _statuses(*codes: int) -> dict[str, int]:
    return dict(zip(ACTORS, codes, strict=True))


# fmt: off
#                          owner edit contr view pend non  t-own other
READ = _statuses(          200,  200, 200,  200, 200, 200, 200,  404)
WRITE = _statuses(         200,  200, 403,  403, 403, 403, 200,  404)
OWNERS = _statuses(        200,  403, 403,  403, 403, 403, 200,  404)
OWNERS_204 = _statuses(    204,  403, 403,  403, 403, 403, 204,  404)
OWNERS_201 = _statuses(    201,  403, 403,  403, 403, 403, 201,  404)
MEMBERS = _statuses(       200,  200, 200,  200, 200, 403, 200,  404)
JOIN = _statuses(          409,  409, 409,  409, 409, 201, 201,  404)
LEAVE = _statuses(         409,  204, 204,  204, 204, 404, 404,  404)
ACCEPT_LINK = _statuses(   409,  409, 409,  409, 200, 200, 200,  404)
# fmt: on


async def _get_by_id(client: httpx.AsyncClient, w: World, h: dict[str, str]) -> httpx.Response:
    return await client.get(w.legacy.url, headers=h)


async def _get_by_slug(client: httpx.AsyncClient, w: World, h: dict[str, str]) -> httpx.Response:
    return await client.get(f"{LEGACIES}/{w.legacy.slug}", headers=h)


async def _put(client: httpx.AsyncClient, w: World, h: dict[str, str]) -> httpx.Response:
    return await client.put(w.legacy.url, json={"name": "Renamed"}, headers=h)


async def _patch(client: httpx.AsyncClient, w: World, h: dict[str, str]) -> httpx.Response:
    return await client.patch(w.legacy.url, json={"biography": "More."}, headers=h)


async def _delete(client: httpx.AsyncClient, w: World, h: dict[str, str]) -> httpx.Response:
    return await client.delete(w.legacy.url, headers=h)


async def _members(client: httpx.AsyncClient, w: World, h: dict[str, str]) -> httpx.Response:
    return await client.get(f"{w.legacy.url}/members", headers=h)


async def _join(client: httpx.AsyncClient, w: World, h: dict[str, str]) -> httpx.Response:
    return await client.post(f"{w.legacy.url}/join", headers=h)


async def _approve(client: httpx.AsyncClient, w: World, h: dict[str, str]) -> httpx.Response:
    return await client.post(f"{w.legacy.url}/members/{w.requester.user_id}/approve", headers=h)


async def _change_role(client: httpx.AsyncClient, w: World, h: dict[str, str]) -> httpx.Response:
    url = f"{w.legacy.url}/members/{w.viewer.user_id}"
    return await client.patch(url, json={"role": "contributor"}, headers=h)


async def _remove(client: httpx.AsyncClient, w: World, h: dict[str, str]) -> httpx.Response:
    return await client.delete(f"{w.legacy.url}/members/{w.viewer.user_id}", headers=h)


async def _leave(client: httpx.AsyncClient, w: World, h: dict[str, str]) -> httpx.Response:
    return await client.post(f"{w.legacy.url}/leave", headers=h)


async def _invite(client: httpx.AsyncClient, w: World, h: dict[str, str]) -> httpx.Response:
    return await client.post(f"{w.legacy.url}/invitations", json={}, headers=h)


async def _invitations(client: httpx.AsyncClient, w: World, h: dict[str, str]) -> httpx.Response:
    return await client.get(f"{w.legacy.url}/invitations", headers=h)


async def _revoke(client: httpx.AsyncClient, w: World, h: dict[str, str]) -> httpx.Response:
    return await client.delete(f"{w.legacy.url}/invitations/{w.invitation_id}", headers=h)


async def _accept(client: httpx.AsyncClient, w: World, h: dict[str, str]) -> httpx.Response:
    return await client.post(ACCEPT, json={"token": w.link_token}, headers=h)


ENDPOINTS: dict[str, tuple[Call, dict[str, int]]] = {
    "GET legacy by id": (_get_by_id, READ),
    "GET legacy by slug": (_get_by_slug, READ),
    "PUT legacy": (_put, WRITE),
    "PATCH legacy": (_patch, WRITE),
    "DELETE legacy": (_delete, OWNERS_204),
    "GET members": (_members, MEMBERS),
    "POST join": (_join, JOIN),
    "POST approve": (_approve, OWNERS),
    "PATCH member role": (_change_role, OWNERS),
    "DELETE member": (_remove, OWNERS_204),
    "POST leave": (_leave, LEAVE),
    "POST invitation": (_invite, OWNERS_201),
    "GET invitations": (_invitations, OWNERS),
    "DELETE invitation": (_revoke, OWNERS_204),
    "POST accept link": (_accept, ACCEPT_LINK),
}

CASES = [
    pytest.param(endpoint, actor, id=f"{endpoint} as {actor}")
    for endpoint in ENDPOINTS
    for actor in ACTORS
]


@pytest.mark.parametrize(("endpoint", "actor"), CASES)
async def test_role_matrix(
    client: httpx.AsyncClient, world: World, endpoint: str, actor: str
) -> None:
    call, expected = ENDPOINTS[endpoint]

    response = await call(client, world, world.actors[actor].headers)

    assert response.status_code == expected[actor], response.text
    if response.status_code >= 400:
        assert set(response.json()["error"]) >= {"code", "message", "request_id"}
    if expected[actor] == 404:
        # Another tenant's legacy: indistinguishable from one that never existed.
        assert response.json()["error"]["code"] in {
            "LEGACY_NOT_FOUND",
            "LEGACY_MEMBER_NOT_FOUND",
            "LEGACY_INVITATION_NOT_FOUND",
        }


async def test_a_pending_member_sees_only_their_request(
    client: httpx.AsyncClient, world: World
) -> None:
    pending = world.actors["pending"]

    listed = (await client.get(f"{world.legacy.url}/members", headers=pending.headers)).json()

    assert [(m["user_id"], m["state"]) for m in listed["data"]] == [
        (str(pending.user_id), "pending")
    ]


async def test_a_key_without_the_legacy_scopes_is_refused(
    client: httpx.AsyncClient, tenant: TenantWithKey, legacy: Legacy, make_member: MemberFactory
) -> None:
    reader = await make_member(tenant, ScopeRole.OWNER, scopes=frozenset({"legacies:read"}))

    read = await client.get(legacy.url, headers=reader.headers)
    write = await client.patch(legacy.url, json={"name": "x"}, headers=reader.headers)
    create = await client.post(LEGACIES, json={"name": "x"}, headers=reader.headers)
    nothing = await make_member(tenant, ScopeRole.OWNER, scopes=frozenset({"media:read"}))
    hidden = await client.get(legacy.url, headers=nothing.headers)
    missing = await client.get(
        f"{LEGACIES}/{'0' * 8}-0000-0000-0000-{'0' * 12}", headers=nothing.headers
    )

    assert read.status_code == 200
    assert write.json()["error"]["code"] == create.json()["error"]["code"] == "MISSING_SCOPE"
    # Without the scope, an existing and a missing legacy answer alike.
    assert hidden.status_code == missing.status_code == 403
