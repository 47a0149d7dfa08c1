"""The admin API: dead letters for installation administrators, the tenant's event trail."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import httpx
from sqlalchemy import func, select

from mosaic.core.ids import new_id
from mosaic.events.bus import Envelope
from mosaic.identity.schemas import KNOWN_SCOPES
from mosaic.models import (
    AuditEvent,
    EventAuditEntry,
    EventDeadLetter,
    EventDelivery,
    PlatformRole,
    ScopeRole,
)
from tests.conftest import MemberFactory, TenantFactory
from tests.events.conftest import Sessions, consumer_name

DEAD_LETTERS = "/api/v1/admin/dead-letters"


def _envelope(tenant_id: str) -> Envelope:
    return Envelope(
        id=str(new_id()),
        type="ThingHappened",
        version=1,
        occurred_at=datetime.now(UTC),
        tenant_id=tenant_id,
        actor_id=None,
        resource_kind="thing",
        resource_id=str(uuid4()),
        correlation_id=None,
        traceparent=None,
        payload={"label": "dead"},
        position=1,
    )


async def _dead_letter(owner_sessions: Sessions, consumer: str, body: str | None = None) -> int:
    envelope = _envelope(str(uuid4()))
    async with owner_sessions() as session, session.begin():
        row = EventDeadLetter(
            consumer=consumer,
            event_id=envelope.id,
            event_type=envelope.type,
            body=body if body is not None else envelope.to_json().decode(),
            envelope=None if body is not None else {"id": envelope.id},
            reason="RuntimeError: boom",
            attempts=5,
        )
        session.add(row)
        await session.flush()
        return row.id


async def test_an_administrator_lists_reads_replays_and_discards_dead_letters(
    client: httpx.AsyncClient,
    make_tenant: TenantFactory,
    make_member: MemberFactory,
    owner_sessions: Sessions,
) -> None:
    admin = await make_member(await make_tenant(), platform_role=PlatformRole.ADMIN)
    consumer = consumer_name()
    first = await _dead_letter(owner_sessions, consumer)
    second = await _dead_letter(owner_sessions, consumer)

    page = await client.get(
        DEAD_LETTERS, params={"consumer": consumer, "limit": 1}, headers=admin.headers
    )
    assert page.status_code == 200, page.text
    assert [row["id"] for row in page.json()["data"]] == [first]
    assert page.headers.get("etag")
    rest = await client.get(
        DEAD_LETTERS,
        params={"consumer": consumer, "cursor": page.json()["pagination"]["next_cursor"]},
        headers=admin.headers,
    )
    assert [row["id"] for row in rest.json()["data"]] == [second]

    shown = await client.get(f"{DEAD_LETTERS}/{first}", headers=admin.headers)
    assert shown.status_code == 200
    assert shown.json()["reason"] == "RuntimeError: boom"
    assert Envelope.from_json(shown.json()["body"]).payload == {"label": "dead"}

    replayed = await client.post(f"{DEAD_LETTERS}/{first}/replay", headers=admin.headers)
    assert replayed.status_code == 200, replayed.text
    discarded = await client.delete(f"{DEAD_LETTERS}/{second}", headers=admin.headers)
    assert discarded.status_code == 204

    async with owner_sessions() as session:
        waiting = await session.scalar(
            select(func.count())
            .select_from(EventDelivery)
            .where(EventDelivery.consumer == consumer)
        )
        left = await session.scalar(
            select(func.count())
            .select_from(EventDeadLetter)
            .where(EventDeadLetter.consumer == consumer)
        )
    assert (waiting, left) == (1, 0)
    async with owner_sessions() as session:
        audited = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.actor_user_id, AuditEvent.details)
                .where(AuditEvent.subject.in_([f"dead_letter:{first}", f"dead_letter:{second}"]))
                .order_by(AuditEvent.subject)
            )
        ).all()
    assert [(action, actor) for action, actor, _ in audited] == [
        ("dead_letter_replayed", admin.user_id),
        ("dead_letter_discarded", admin.user_id),
    ]
    assert {details["consumer"] for _, _, details in audited} == {consumer}
    gone = await client.get(f"{DEAD_LETTERS}/{second}", headers=admin.headers)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "DEAD_LETTER_NOT_FOUND"


async def test_a_malformed_dead_letter_cannot_be_replayed_only_discarded(
    client: httpx.AsyncClient,
    make_tenant: TenantFactory,
    make_member: MemberFactory,
    owner_sessions: Sessions,
) -> None:
    admin = await make_member(await make_tenant(), platform_role=PlatformRole.ADMIN)
    letter = await _dead_letter(owner_sessions, consumer_name(), body="not json")

    refused = await client.post(f"{DEAD_LETTERS}/{letter}/replay", headers=admin.headers)

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "DEAD_LETTER_NOT_REPLAYABLE"


async def test_dead_letters_are_the_administrators_only(
    client: httpx.AsyncClient, make_tenant: TenantFactory, make_member: MemberFactory
) -> None:
    tenant = await make_tenant()
    owner = await make_member(tenant, ScopeRole.OWNER)
    admin_without_scope = await make_member(
        tenant, platform_role=PlatformRole.ADMIN, scopes=KNOWN_SCOPES - {"events:admin"}
    )

    for principal in (owner, admin_without_scope, tenant):
        response = await client.get(DEAD_LETTERS, headers=principal.headers)
        assert response.status_code == 403, response.text
    assert (await client.get(DEAD_LETTERS)).status_code == 401


async def test_the_event_audit_log_shows_the_tenants_own_events_only(
    client: httpx.AsyncClient,
    make_tenant: TenantFactory,
    make_member: MemberFactory,
    owner_sessions: Sessions,
) -> None:
    mine, theirs = await make_tenant(), await make_tenant()
    async with owner_sessions() as session, session.begin():
        for tenant, label in ((mine, "mine"), (theirs, "theirs")):
            session.add(
                EventAuditEntry(
                    event_id=new_id(),
                    position=1,
                    tenant_id=tenant.id,
                    type="ThingHappened",
                    version=1,
                    occurred_at=datetime.now(UTC),
                    actor_id=None,
                    resource_kind="thing",
                    resource_id=label,
                    correlation_id=None,
                    payload={"label": label},
                )
            )
    owner = await make_member(mine, ScopeRole.OWNER)
    viewer = await make_member(mine, ScopeRole.VIEWER)

    trail = await client.get("/api/v1/admin/event-audit-log", headers=owner.headers)
    denied = await client.get("/api/v1/admin/event-audit-log", headers=viewer.headers)

    assert trail.status_code == 200, trail.text
    assert [entry["resource_id"] for entry in trail.json()["data"]] == ["mine"]
    assert denied.status_code == 403
