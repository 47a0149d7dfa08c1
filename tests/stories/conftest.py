"""Fixtures for stories: a legacy in a tenant with a user in every seed 002 role, another
tenant with a legacy of its own, and helpers to write and read stories over the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.core.ids import new_id
from mosaic.models import Legacy, LegacyMember, MembershipState, ScopeRole
from tests.conftest import Member, MemberFactory, TenantFactory, TenantWithKey

Sessions = async_sessionmaker[AsyncSession]

# name: the role in the legacy and the membership's state (None: not a member of it). Every
# one of them is a contributor of the tenant: a tenant's contributors inherit nothing below
# the tenant, so what they see of the legacy comes from these rows alone.
LEGACY_ROLES: dict[str, tuple[ScopeRole, MembershipState] | None] = {
    "owner": (ScopeRole.OWNER, MembershipState.ACTIVE),
    "editor": (ScopeRole.EDITOR, MembershipState.ACTIVE),
    "author": (ScopeRole.CONTRIBUTOR, MembershipState.ACTIVE),
    "member": (ScopeRole.CONTRIBUTOR, MembershipState.ACTIVE),
    "viewer": (ScopeRole.VIEWER, MembershipState.ACTIVE),
    "pending": (ScopeRole.CONTRIBUTOR, MembershipState.PENDING),
    "non_member": None,
}


async def make_legacy(sessions: Sessions, tenant_id: UUID, created_by: UUID | None) -> UUID:
    async with sessions() as session, session.begin():
        legacy = Legacy(
            id=new_id(),
            tenant_id=tenant_id,
            name="Ada Example",
            slug=f"ada-{uuid4().hex[:12]}",
            created_by=created_by,
        )
        session.add(legacy)
    return legacy.id


async def join_legacy(
    sessions: Sessions,
    *,
    tenant_id: UUID,
    legacy_id: UUID,
    user_id: UUID,
    role: ScopeRole,
    state: MembershipState = MembershipState.ACTIVE,
) -> None:
    async with sessions() as session, session.begin():
        session.add(
            LegacyMember(
                tenant_id=tenant_id, legacy_id=legacy_id, user_id=user_id, role=role, state=state
            )
        )


@dataclass
class Community:
    """A tenant with one legacy and a user per row of ``LEGACY_ROLES``; another tenant with a
    legacy and its owner; and a second legacy of the first tenant owned by ``"outsider"``."""

    tenant: TenantWithKey
    legacy_id: UUID
    people: dict[str, Member]
    other_legacy_id: UUID
    other_tenant_legacy_id: UUID

    def headers(self, name: str) -> dict[str, str]:
        return self.people[name].headers


@pytest.fixture
async def community(
    make_tenant: TenantFactory, make_member: MemberFactory, owner_sessions: Sessions
) -> Community:
    tenant = await make_tenant()
    people = {name: await make_member(tenant, ScopeRole.CONTRIBUTOR) for name in LEGACY_ROLES}
    legacy_id = await make_legacy(owner_sessions, tenant.id, people["owner"].user_id)
    for name, grant in LEGACY_ROLES.items():
        if grant is not None:
            role, state = grant
            await join_legacy(
                owner_sessions,
                tenant_id=tenant.id,
                legacy_id=legacy_id,
                user_id=people[name].user_id,
                role=role,
                state=state,
            )
    people["outsider"] = await make_member(tenant, ScopeRole.CONTRIBUTOR)
    other_legacy_id = await make_legacy(owner_sessions, tenant.id, people["outsider"].user_id)
    await join_legacy(
        owner_sessions,
        tenant_id=tenant.id,
        legacy_id=other_legacy_id,
        user_id=people["outsider"].user_id,
        role=ScopeRole.OWNER,
    )
    other_tenant = await make_tenant()
    people["other_tenant"] = await make_member(other_tenant, ScopeRole.OWNER)
    other_tenant_legacy_id = await make_legacy(
        owner_sessions, other_tenant.id, people["other_tenant"].user_id
    )
    await join_legacy(
        owner_sessions,
        tenant_id=other_tenant.id,
        legacy_id=other_tenant_legacy_id,
        user_id=people["other_tenant"].user_id,
        role=ScopeRole.OWNER,
    )
    return Community(
        tenant=tenant,
        legacy_id=legacy_id,
        people=people,
        other_legacy_id=other_legacy_id,
        other_tenant_legacy_id=other_tenant_legacy_id,
    )


StoryWriter = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def write_story(client: httpx.AsyncClient, community: Community) -> StoryWriter:
    """``await write_story("author", visibility="private")``: the created story's body."""

    async def write(
        name: str = "author", *, legacy_id: UUID | None = None, **fields: Any
    ) -> dict[str, Any]:
        body = {
            "legacy_id": str(legacy_id or community.legacy_id),
            "title": "The summer of 1962",
            "content": "She *always* said the lake was warmer in August.",
            "visibility": "private",
            **fields,
        }
        response = await client.post("/api/v1/stories", json=body, headers=community.headers(name))
        assert response.status_code == 201, response.text
        story: dict[str, Any] = response.json()
        return story

    return write
