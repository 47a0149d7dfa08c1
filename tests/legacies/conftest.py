"""Fixtures for the legacies API: a tenant, members holding a role in one legacy, the outbox
and the mail folder as the owner (superuser) role sees them."""

from __future__ import annotations

import email
import email.message
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.models import LegacyMember, MembershipState, ScopeRole
from tests.conftest import Member, MemberFactory, TenantFactory, TenantWithKey, outbox_events

LEGACIES = "/api/v1/legacies"
ACCEPT = "/api/v1/legacy-invitations/accept"
Sessions = async_sessionmaker[AsyncSession]


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The error envelope's body, after checking the status."""
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


@pytest.fixture
async def tenant(make_tenant: TenantFactory) -> TenantWithKey:
    return await make_tenant()


@dataclass(frozen=True)
class Legacy:
    """A legacy made over HTTP by ``owner``, who is its owner member."""

    id: UUID
    slug: str
    owner: Member
    body: dict[str, Any]

    @property
    def url(self) -> str:
        return f"{LEGACIES}/{self.id}"


LegacyFactory = Callable[..., Awaitable[Legacy]]


@pytest.fixture
def community_member(tenant: TenantWithKey, make_member: MemberFactory) -> Callable[..., Any]:
    """A member of ``tenant`` as a contributor: in the community, no role in any legacy
    (a tenant's contributors do not inherit legacy roles)."""

    async def make(**options: Any) -> Member:
        return await make_member(tenant, ScopeRole.CONTRIBUTOR, **options)

    return make


@pytest.fixture
def make_legacy(
    client: httpx.AsyncClient, community_member: Callable[..., Awaitable[Member]]
) -> LegacyFactory:
    """Create a legacy over HTTP as ``owner`` (default: a fresh community member)."""

    async def make(
        name: str = "Ada Lovelace", owner: Member | None = None, **fields: Any
    ) -> Legacy:
        creator = owner or await community_member()
        response = await client.post(
            LEGACIES, json={"name": name, **fields}, headers=creator.headers
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return Legacy(id=UUID(body["id"]), slug=body["slug"], owner=creator, body=body)

    return make


@pytest.fixture
async def legacy(make_legacy: LegacyFactory) -> Legacy:
    return await make_legacy()


GrantFactory = Callable[..., Awaitable[Member]]


@pytest.fixture
def member_of(
    owner_sessions: Sessions, community_member: Callable[..., Awaitable[Member]]
) -> GrantFactory:
    """A community member holding ``role`` in ``legacy`` in ``state`` (written directly)."""

    async def make(
        legacy: Legacy,
        role: ScopeRole,
        *,
        state: MembershipState = MembershipState.ACTIVE,
        **options: Any,
    ) -> Member:
        member = await community_member(**options)
        async with owner_sessions() as session, session.begin():
            session.add(
                LegacyMember(
                    tenant_id=member.tenant_id,
                    legacy_id=legacy.id,
                    user_id=member.user_id,
                    role=role,
                    state=state,
                    joined_at=datetime.now(UTC) if state is MembershipState.ACTIVE else None,
                )
            )
        return member

    return make


async def event_types(sessions: Sessions, *, resource_id: UUID) -> list[str]:
    return [event.type for event in await outbox_events(sessions, resource_id)]


def mails_to(app: FastAPI, address: str) -> list[email.message.Message]:
    """The messages the app's folder mailer wrote to ``address``."""
    folder: Path = app.state.settings.mail_dir
    if not folder.exists():
        return []
    messages = [email.message_from_bytes(path.read_bytes()) for path in folder.glob("*.eml")]
    return [message for message in messages if message["To"] == address]
