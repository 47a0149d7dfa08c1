"""API keys under the policy: owners and editors manage them, anyone their own, and a user's
key acts as that user."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.models import ApiKey, AuditEvent, MembershipState, ScopeRole
from tests.conftest import MemberFactory, TenantWithKey

KEYS = "/api/v1/api-keys"


async def test_an_editor_creates_a_key_that_acts_as_them(
    client: httpx.AsyncClient,
    tenant: TenantWithKey,
    make_member: MemberFactory,
    owner_sessions: async_sessionmaker[AsyncSession],
) -> None:
    editor = await make_member(tenant, ScopeRole.EDITOR)

    response = await client.post(
        KEYS, json={"name": "mine", "scopes": ["api-keys:read"]}, headers=editor.headers
    )

    assert response.status_code == 201, response.text
    async with owner_sessions() as session:
        key = await session.get(ApiKey, response.json()["id"])
    assert key is not None
    assert key.created_by == editor.user_id


async def test_a_contributor_may_not_create_keys_and_the_denial_is_audited(
    client: httpx.AsyncClient,
    tenant: TenantWithKey,
    make_member: MemberFactory,
    owner_sessions: async_sessionmaker[AsyncSession],
) -> None:
    contributor = await make_member(tenant, ScopeRole.CONTRIBUTOR)

    response = await client.post(KEYS, json={"name": "nope"}, headers=contributor.headers)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ACCESS_DENIED"
    assert response.json()["error"]["details"] == {"reason": "not_permitted"}
    async with owner_sessions() as session:
        audited = (
            await session.execute(
                select(AuditEvent).where(
                    AuditEvent.actor_user_id == contributor.user_id,
                    AuditEvent.action == "access_denied",
                )
            )
        ).scalar_one()
    assert (audited.reason, audited.subject, audited.tenant_id) == (
        "not_permitted",
        "api_key:new",
        tenant.id,
    )


async def test_a_contributor_lists_and_revokes_only_their_own_keys(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_member: MemberFactory
) -> None:
    contributor = await make_member(tenant, ScopeRole.CONTRIBUTOR)
    others = (await client.get(KEYS, headers=tenant.headers)).json()["data"]

    listed = (await client.get(KEYS, headers=contributor.headers)).json()["data"]
    revoke_other = await client.delete(f"{KEYS}/{others[0]['id']}", headers=contributor.headers)
    revoke_own = await client.delete(f"{KEYS}/{listed[0]['id']}", headers=contributor.headers)

    assert [key["name"] for key in listed] == [f"key of {contributor.email}"]
    assert revoke_other.status_code == 403
    assert revoke_own.status_code == 204


async def test_a_suspended_owners_key_stops_working(
    client: httpx.AsyncClient, tenant: TenantWithKey, make_member: MemberFactory
) -> None:
    # A user's key acts as that user: without an active membership it authenticates nobody.
    suspended = await make_member(tenant, ScopeRole.OWNER, state=MembershipState.SUSPENDED)

    response = await client.get("/api/v1/tenant", headers=suspended.headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "INVALID_CREDENTIALS"
