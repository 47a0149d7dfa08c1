"""POST /me/erase and /users/{id}/erase: afterwards no personal data is left anywhere (checked
over every table's text columns), other authors' stories are intact, blobs are deleted,
credentials stop working, and the erasure is audited and announced in the outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy import String, Text, cast, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.models import (
    ApiKey,
    AuditEvent,
    Base,
    IdempotencyRecord,
    Legacy,
    LegacyMember,
    OutboxEvent,
    PlatformRole,
    ScopeRole,
    Story,
    StoryRevision,
    TenantMembership,
    User,
    UserStatus,
)
from tests.conftest import MemberFactory
from tests.identity.conftest import SignInFactory
from tests.privacy.conftest import RecordingBlobStore, World

Sessions = async_sessionmaker[AsyncSession]

# Where an erased user's id may stay: the anonymised account row itself, and the audit events
# they acted in (the action is kept, with nothing that identifies a person but the id).
ID_MAY_REMAIN = {"users.id", "audit_events.actor_user_id"}


async def erase_self(client: httpx.AsyncClient, world: World, confirm: str) -> httpx.Response:
    return await client.post(
        "/api/v1/me/erase", json={"confirm": confirm}, headers=world.alice.headers
    )


async def leftovers(sessions: Sessions, needles: list[str]) -> list[str]:
    """``table.column`` of every text value (strings, arrays, JSON) containing a needle."""
    found = []
    async with sessions() as session:
        for table in Base.metadata.tables.values():
            for column in table.columns:
                if not isinstance(column.type, String | Text | ARRAY | JSONB):
                    continue
                text = cast(column, Text)
                hits = await session.scalar(
                    select(func.count())
                    .select_from(table)
                    .where(or_(*(text.ilike(f"%{needle}%") for needle in needles)))
                )
                if hits:
                    found.append(f"{table.name}.{column.name}")
    return found


async def references(sessions: Sessions, user_id: UUID) -> list[str]:
    """``table.column`` of every column referencing users that still holds ``user_id``."""
    found = []
    async with sessions() as session:
        for table in Base.metadata.tables.values():
            for column in table.columns:
                name = f"{table.name}.{column.name}"
                refers = any(key.column.table.name == "users" for key in column.foreign_keys)
                if (refers or name == "users.id") and name not in ID_MAY_REMAIN:
                    hits = await session.scalar(
                        select(func.count()).select_from(table).where(column == user_id)
                    )
                    if hits:
                        found.append(name)
    return found


async def test_erasure_leaves_no_personal_data_in_any_table(
    client: httpx.AsyncClient, world: World, owner_sessions: Sessions, blob_store: Any
) -> None:
    assert await leftovers(owner_sessions, world.alice.needles())  # the check can fail

    response = await erase_self(client, world, world.alice.email.upper())

    assert response.status_code == 204, response.text
    assert await leftovers(owner_sessions, world.alice.needles()) == []
    assert await references(owner_sessions, world.alice.id) == []


async def test_the_account_row_stays_anonymised_and_disabled(
    client: httpx.AsyncClient, world: World, owner_sessions: Sessions, blob_store: Any
) -> None:
    await erase_self(client, world, world.alice.email)

    async with owner_sessions() as session:
        user = await session.get(User, world.alice.id)
    assert user is not None
    assert user.status is UserStatus.DISABLED
    assert user.email.endswith("@erased.invalid")
    assert user.password_hash is None


async def test_other_authors_stories_stay_intact(
    client: httpx.AsyncClient, world: World, owner_sessions: Sessions, blob_store: Any
) -> None:
    await erase_self(client, world, world.alice.email)

    async with owner_sessions() as session:
        bobs = await session.get(Story, world.bob_story)
        revisions = list(
            await session.scalars(
                select(StoryRevision)
                .where(StoryRevision.story_id == world.bob_story)
                .order_by(StoryRevision.version)
            )
        )
        alices = await session.scalar(
            select(func.count())
            .select_from(Story)
            .where(
                Story.id.in_(
                    [
                        world.alice_public_story,
                        world.alice_personal_story,
                        world.alice_other_tenant_story,
                    ]
                )
            )
        )
    assert bobs is not None
    assert bobs.author_id == world.bob.id
    assert bobs.content.endswith("And the smell of sawdust.")  # Alice's edit is kept
    assert [revision.version for revision in revisions] == [1, 2]
    assert revisions[0].actor_id == world.bob.id
    assert revisions[1].actor_id is None  # Alice's revision, anonymised
    assert revisions[1].source_ip is None
    assert alices == 0  # her own stories went, in both tenants


async def test_bob_still_reads_his_story_in_the_export(
    client: httpx.AsyncClient, world: World, blob_store: Any
) -> None:
    await erase_self(client, world, world.alice.email)

    response = await client.get("/api/v1/export", headers=world.bob.headers)

    assert response.status_code == 200
    assert b"workshop" in response.content


async def test_media_blobs_are_deleted_in_every_tenant_and_others_kept(
    client: httpx.AsyncClient, world: World, blob_store: RecordingBlobStore
) -> None:
    await erase_self(client, world, world.alice.email)

    assert sorted(blob_store.deleted) == sorted(world.alice_media_keys)
    assert world.bob_media_key not in blob_store.deleted


async def test_credentials_stop_working(
    client: httpx.AsyncClient, sign_in: SignInFactory, blob_store: Any
) -> None:
    signed_in = await sign_in()
    account = signed_in.account

    response = await client.post(
        "/api/v1/me/erase", json={"confirm": account.email}, headers=signed_in.headers
    )

    assert response.status_code == 204, response.text
    me = await client.get("/api/v1/auth/me", headers=signed_in.headers)
    assert me.status_code == 401
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": signed_in.refresh_token}
    )
    assert refresh.status_code == 401
    login = await client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": account.password}
    )
    assert login.status_code == 401


async def test_an_api_key_of_the_user_stops_working(
    client: httpx.AsyncClient, world: World, blob_store: Any
) -> None:
    await erase_self(client, world, world.alice.email)

    response = await client.get("/api/v1/me/personal-data", headers=world.alice.headers)

    assert response.status_code == 401


async def test_a_wrong_confirmation_is_422_and_erases_nothing(
    client: httpx.AsyncClient, world: World, owner_sessions: Sessions, blob_store: Any
) -> None:
    response = await erase_self(client, world, world.bob.email)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "CONFIRMATION_MISMATCH"
    async with owner_sessions() as session:
        attempt = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "account_erased",
                AuditEvent.outcome == "failure",
                AuditEvent.subject == f"user:{world.alice.id}",
            )
        )
    assert attempt is not None
    assert attempt.reason == "confirmation_mismatch"
    async with owner_sessions() as session:
        user = await session.get(User, world.alice.id)
    assert user is not None
    assert user.email == world.alice.email
    assert blob_store.deleted == []


async def test_a_missing_confirmation_is_422(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post("/api/v1/me/erase", json={}, headers=world.alice.headers)

    assert response.status_code == 422


async def test_another_users_erasure_without_rights_is_403(
    client: httpx.AsyncClient, world: World, owner_sessions: Sessions
) -> None:
    response = await client.post(
        f"/api/v1/users/{world.bob.id}/erase",
        json={"confirm": world.bob.email},
        headers=world.alice.headers,
    )

    assert response.status_code == 403
    async with owner_sessions() as session:
        bob = await session.get(User, world.bob.id)
    assert bob is not None
    assert bob.email == world.bob.email


async def test_a_platform_admin_erases_another_user(
    client: httpx.AsyncClient,
    world: World,
    make_member: MemberFactory,
    owner_sessions: Sessions,
    blob_store: RecordingBlobStore,
) -> None:
    admin = await make_member(world.tenant, platform_role=PlatformRole.ADMIN)

    response = await client.post(
        f"/api/v1/users/{world.alice.id}/erase",
        json={"confirm": world.alice.email},
        headers=admin.headers,
    )

    assert response.status_code == 204, response.text
    assert sorted(blob_store.deleted) == sorted(world.alice_media_keys)
    async with owner_sessions() as session:
        audit = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "account_erased",
                AuditEvent.subject == f"user:{world.alice.id}",
            )
        )
    assert audit is not None
    assert audit.actor_user_id == admin.user_id


async def test_an_unknown_user_is_404_for_an_admin(
    client: httpx.AsyncClient, world: World, make_member: MemberFactory
) -> None:
    admin = await make_member(world.tenant, platform_role=PlatformRole.ADMIN)

    response = await client.post(
        f"/api/v1/users/{world.tenant.id}/erase", json={"confirm": "x@y.z"}, headers=admin.headers
    )

    assert response.status_code == 404


async def test_the_erasure_is_audited_and_in_the_outbox_without_personal_data(
    client: httpx.AsyncClient, world: World, owner_sessions: Sessions, blob_store: Any
) -> None:
    await erase_self(client, world, world.alice.email)

    async with owner_sessions() as session:
        event = await session.scalar(
            select(OutboxEvent).where(
                OutboxEvent.type == "UserErased", OutboxEvent.resource_id == str(world.alice.id)
            )
        )
        audit = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "account_erased",
                AuditEvent.subject == f"user:{world.alice.id}",
            )
        )
    assert event is not None
    assert event.tenant_id == world.tenant.id
    assert event.payload["by_self"] is True
    assert event.payload["blobs_deleted"] == 4  # three files, one thumbnail
    assert audit is not None
    assert audit.ip_address is None  # the erased user's own address is not kept


async def test_erasing_without_a_blob_store_is_refused_and_rolled_back(
    client: httpx.AsyncClient, world: World, owner_sessions: Sessions, no_blob_store: None
) -> None:
    response = await erase_self(client, world, world.alice.email)

    assert response.status_code == 503
    async with owner_sessions() as session:
        story = await session.get(Story, world.alice_public_story)
    assert story is not None


async def test_erasure_attempts_are_rate_limited(
    client: httpx.AsyncClient, world: World, blob_store: Any
) -> None:
    statuses = [
        (await erase_self(client, world, "wrong@example.test")).status_code for _ in range(6)
    ]

    assert statuses == [422] * 5 + [429]


async def test_a_key_without_the_erase_scope_is_refused(
    client: httpx.AsyncClient, world: World, make_member: MemberFactory, owner_sessions: Sessions
) -> None:
    member = await make_member(world.tenant, scopes=frozenset({"account:export"}))

    response = await client.post(
        "/api/v1/me/erase", json={"confirm": member.email}, headers=member.headers
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "MISSING_SCOPE"
    async with owner_sessions() as session:
        user = await session.get(User, member.user_id)
    assert user is not None
    assert user.email == member.email


async def test_an_erased_user_cannot_be_erased_again(
    client: httpx.AsyncClient,
    world: World,
    make_member: MemberFactory,
    blob_store: Any,
) -> None:
    admin = await make_member(world.tenant, platform_role=PlatformRole.ADMIN)
    await erase_self(client, world, world.alice.email)

    again = await client.post(
        f"/api/v1/users/{world.alice.id}/erase",
        json={"confirm": f"erased-{world.alice.id}@erased.invalid"},
        headers=admin.headers,
    )

    assert again.status_code == 404


async def test_stored_idempotent_answers_of_the_user_and_their_keys_go(
    client: httpx.AsyncClient, world: World, owner_sessions: Sessions, blob_store: Any
) -> None:
    async with owner_sessions() as session, session.begin():
        key_id = await session.scalar(select(ApiKey.id).where(ApiKey.created_by == world.alice.id))
        principals = [f"user:{world.alice.id}", f"api_key:{key_id}"]
        for principal in principals:
            session.add(
                IdempotencyRecord(
                    tenant_id=world.tenant.id,
                    principal=principal,
                    key="k1",
                    method="POST",
                    path="/api/v1/stories",
                    request_hash="0" * 64,
                    status_code=201,
                    expires_at=datetime.now(UTC) + timedelta(hours=1),
                )
            )

    await erase_self(client, world, world.alice.email)

    async with owner_sessions() as session:
        left = await session.scalar(
            select(func.count())
            .select_from(IdempotencyRecord)
            .where(IdempotencyRecord.principal.in_(principals))
        )
    assert left == 0


async def test_legacies_nobody_else_uses_go_and_shared_ones_stay(
    client: httpx.AsyncClient, world: World, owner_sessions: Sessions, blob_store: Any
) -> None:
    async with owner_sessions() as session, session.begin():
        # A legacy Alice created where Bob wrote: it is his community's too.
        shared = await session.get(Legacy, world.bob_legacy)
        assert shared is not None
        shared.created_by = world.alice.id

    await erase_self(client, world, world.alice.email)

    async with owner_sessions() as session:
        alone = await session.get(Legacy, world.alice_legacy)
        kept = await session.get(Legacy, world.bob_legacy)
    assert alone is None
    assert kept is not None
    assert kept.created_by is None


async def test_the_last_owner_of_a_community_is_refused_until_someone_else_owns_it(
    client: httpx.AsyncClient, world: World, owner_sessions: Sessions, blob_store: Any
) -> None:
    async with owner_sessions() as session, session.begin():
        # Alice owns her second community, where Bob is a member too.
        await session.execute(
            update(TenantMembership)
            .where(
                TenantMembership.tenant_id == world.other_tenant.id,
                TenantMembership.user_id == world.alice.id,
            )
            .values(role=ScopeRole.OWNER)
        )
        session.add(
            TenantMembership(
                tenant_id=world.other_tenant.id, user_id=world.bob.id, role=ScopeRole.VIEWER
            )
        )

    refused = await erase_self(client, world, world.alice.email)

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "SOLE_OWNER"
    assert refused.json()["error"]["details"] == {"tenants": [str(world.other_tenant.id)]}
    async with owner_sessions() as session, session.begin():
        await session.execute(
            update(TenantMembership)
            .where(TenantMembership.user_id == world.bob.id)
            .values(role=ScopeRole.OWNER)
        )
    assert (await erase_self(client, world, world.alice.email)).status_code == 204


async def test_memberships_she_approved_stay_without_her_provenance(
    client: httpx.AsyncClient, world: World, owner_sessions: Sessions, blob_store: Any
) -> None:
    await erase_self(client, world, world.alice.email)

    async with owner_sessions() as session:
        bobs = await session.get(LegacyMember, (world.tenant.id, world.bob_legacy, world.bob.id))
    assert bobs is not None
    assert (bobs.role, bobs.approved_by) == (ScopeRole.OWNER, None)
    assert (bobs.actor_id, bobs.source_ip, bobs.user_agent) == (None, None, None)
