"""Writes to memberships and invitations store their provenance (seed 000 §14): the acting
user, the client's address and the User-Agent sent, overwritten by each later write."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI

from mosaic.models import LegacyInvitation, LegacyMember
from tests.conftest import Member, unique_client_address
from tests.legacies.conftest import ACCEPT, LEGACIES, Legacy, LegacyFactory, Sessions

MemberMaker = Callable[..., Awaitable[Member]]


@dataclass(frozen=True)
class Client:
    """An HTTP client whose requests all come from one known address."""

    http: httpx.AsyncClient
    ip: str

    async def post(self, url: str, member: Member, agent: str, **options: Any) -> httpx.Response:
        return await self.http.post(url, headers=_as(member, agent), **options)

    async def patch(self, url: str, member: Member, agent: str, **options: Any) -> httpx.Response:
        return await self.http.patch(url, headers=_as(member, agent), **options)

    async def delete(self, url: str, member: Member, agent: str) -> httpx.Response:
        return await self.http.delete(url, headers=_as(member, agent))


def _as(member: Member, agent: str) -> dict[str, str]:
    return {**member.headers, "User-Agent": agent}


@pytest.fixture
async def known(app: FastAPI) -> AsyncIterator[Client]:
    address = unique_client_address()
    transport = httpx.ASGITransport(app=app, client=address)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield Client(http, address[0])


def _provenance(row: LegacyMember | LegacyInvitation | None) -> tuple[Any, ...]:
    assert row is not None
    return (row.actor_id, row.source_ip, row.user_agent, row.plugin_id)


async def _membership(sessions: Sessions, legacy: Legacy, member: Member) -> LegacyMember | None:
    async with sessions() as session:
        return await session.get(LegacyMember, (member.tenant_id, legacy.id, member.user_id))


async def _invitation(sessions: Sessions, invitation_id: str) -> LegacyInvitation | None:
    async with sessions() as session:
        return await session.get(LegacyInvitation, UUID(invitation_id))


async def test_creating_a_legacy_stamps_its_owners_membership(
    known: Client, community_member: MemberMaker, owner_sessions: Sessions
) -> None:
    creator = await community_member()

    response = await known.post(LEGACIES, creator, "creator/1", json={"name": "Ada"})

    assert response.status_code == 201, response.text
    legacy = Legacy(id=UUID(response.json()["id"]), slug="", owner=creator, body={})
    assert _provenance(await _membership(owner_sessions, legacy, creator)) == (
        creator.user_id,
        known.ip,
        "creator/1",
        None,
    )


async def test_join_approve_and_role_change_each_store_their_writer(
    known: Client, legacy: Legacy, community_member: MemberMaker, owner_sessions: Sessions
) -> None:
    asker, owner = await community_member(), legacy.owner
    url = f"{legacy.url}/members/{asker.user_id}"

    joined = await known.post(f"{legacy.url}/join", asker, "asker/1")
    after_join = await _membership(owner_sessions, legacy, asker)
    approved = await known.post(f"{url}/approve", owner, "approver/2", json={"role": "viewer"})
    after_approval = await _membership(owner_sessions, legacy, asker)
    changed = await known.patch(url, owner, "role-changer/3", json={"role": "editor"})
    after_change = await _membership(owner_sessions, legacy, asker)

    assert [joined.status_code, approved.status_code, changed.status_code] == [201, 200, 200]
    assert _provenance(after_join) == (asker.user_id, known.ip, "asker/1", None)
    assert _provenance(after_approval) == (owner.user_id, known.ip, "approver/2", None)
    assert _provenance(after_change) == (owner.user_id, known.ip, "role-changer/3", None)


async def test_an_unchanged_role_is_no_write(
    known: Client, legacy: Legacy, community_member: MemberMaker, owner_sessions: Sessions
) -> None:
    asker, owner = await community_member(), legacy.owner
    url = f"{legacy.url}/members/{asker.user_id}"
    await known.post(f"{legacy.url}/join", asker, "asker/1")
    await known.post(f"{url}/approve", owner, "approver/2", json={"role": "viewer"})

    same = await known.patch(url, owner, "role-changer/3", json={"role": "viewer"})

    assert same.status_code == 200, same.text
    after = await _membership(owner_sessions, legacy, asker)
    assert _provenance(after) == (owner.user_id, known.ip, "approver/2", None)


async def test_invite_and_accept_stamp_the_invitation_and_the_membership(
    known: Client, legacy: Legacy, community_member: MemberMaker, owner_sessions: Sessions
) -> None:
    invitee, owner = await community_member(), legacy.owner

    created = await known.post(f"{legacy.url}/invitations", owner, "inviter/1", json={})
    invitation_id = created.json()["id"]
    after_invite = await _invitation(owner_sessions, invitation_id)
    accepted = await known.post(
        ACCEPT, invitee, "accepter/2", json={"token": created.json()["token"]}
    )

    assert created.status_code == 201, created.text
    assert accepted.status_code == 200, accepted.text
    assert _provenance(after_invite) == (owner.user_id, known.ip, "inviter/1", None)
    assert _provenance(await _invitation(owner_sessions, invitation_id)) == (
        invitee.user_id,
        known.ip,
        "accepter/2",
        None,
    )
    assert _provenance(await _membership(owner_sessions, legacy, invitee)) == (
        invitee.user_id,
        known.ip,
        "accepter/2",
        None,
    )


async def test_accepting_stamps_a_pending_request_it_approves(
    known: Client, legacy: Legacy, community_member: MemberMaker, owner_sessions: Sessions
) -> None:
    asker, owner = await community_member(), legacy.owner
    await known.post(f"{legacy.url}/join", asker, "asker/1")
    created = await known.post(f"{legacy.url}/invitations", owner, "inviter/2", json={})

    accepted = await known.post(
        ACCEPT, asker, "accepter/3", json={"token": created.json()["token"]}
    )

    assert accepted.status_code == 200, accepted.text
    assert _provenance(await _membership(owner_sessions, legacy, asker)) == (
        asker.user_id,
        known.ip,
        "accepter/3",
        None,
    )


async def test_revoking_stamps_the_invitation(
    known: Client, legacy: Legacy, owner_sessions: Sessions
) -> None:
    owner = legacy.owner
    created = await known.post(f"{legacy.url}/invitations", owner, "inviter/1", json={})
    invitation_id = created.json()["id"]

    revoked = await known.delete(f"{legacy.url}/invitations/{invitation_id}", owner, "revoker/2")

    assert revoked.status_code == 204, revoked.text
    after = await _invitation(owner_sessions, invitation_id)
    assert after is not None
    assert after.revoked_at is not None
    assert _provenance(after) == (owner.user_id, known.ip, "revoker/2", None)


async def test_another_legacy_made_by_a_factory_is_stamped_too(
    make_legacy: LegacyFactory, owner_sessions: Sessions
) -> None:
    """The shared ``client`` fixture has an address of its own: it is the one stored."""
    legacy = await make_legacy()

    membership = await _membership(owner_sessions, legacy, legacy.owner)

    assert membership is not None
    assert membership.actor_id == legacy.owner.user_id
    assert membership.source_ip is not None
    assert membership.source_ip.startswith("127.")
