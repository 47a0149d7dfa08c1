"""Decisions are memoised per request only, and every denial is logged (and audited when the
action would have written)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.testing import capture_logs

from mosaic.authz import AccessDenied, Action, Subject, TenantResource, authorize, can
from mosaic.models import ScopeRole, TenantMembership
from tests.authz.conftest import World


async def test_a_request_looks_its_roles_up_once(
    tenant_session: AsyncSession, world: World
) -> None:
    subject = world.subject("editor")
    tenant = TenantResource(world.tenant_id)

    for action in (Action.READ, Action.READ, Action.UPDATE, Action.MANAGE_MEMBERS):
        await can(tenant_session, subject, action, tenant)

    assert subject.memo.lookups == 1
    assert len(subject.memo.decisions) == 3


async def test_the_next_request_sees_a_changed_role(
    tenant_session: AsyncSession, world: World, owner_sessions: async_sessionmaker[AsyncSession]
) -> None:
    tenant = TenantResource(world.tenant_id)
    assert not await can(tenant_session, world.subject("viewer"), Action.UPDATE, tenant)
    async with owner_sessions() as session, session.begin():
        await session.execute(
            update(TenantMembership)
            .where(TenantMembership.user_id == world.users["viewer"])
            .values(role=ScopeRole.OWNER)
        )

    # Each request builds a new subject, with an empty memo.
    assert await can(tenant_session, world.subject("viewer"), Action.UPDATE, tenant)


@dataclass
class RecordingSink:
    denials: list[tuple[str, str, str]] = field(default_factory=list)

    async def record(self, subject: Subject, action: Action, target: str, reason: str) -> None:
        self.denials.append((action.value, target, reason))


@pytest.mark.parametrize(("action", "audited"), [(Action.UPDATE, True), (Action.READ, False)])
async def test_a_denial_is_logged_with_its_reason_and_writes_are_audited(
    tenant_session: AsyncSession, world: World, action: Action, audited: bool
) -> None:
    sink = RecordingSink()
    subject = Subject.of(world.subject("pending").principal, denials=sink)
    tenant = TenantResource(world.tenant_id)

    with capture_logs() as logs, pytest.raises(AccessDenied) as denied:
        await authorize(tenant_session, subject, action, tenant)

    assert denied.value.details == {"reason": "membership_pending"}
    [entry] = [log for log in logs if log["event"] == "access_denied"]
    assert (entry["reason"], entry["action"]) == ("membership_pending", action.value)
    expected = [(action.value, tenant.describe(), "membership_pending")] if audited else []
    assert sink.denials == expected


async def test_asking_is_not_a_denial(tenant_session: AsyncSession, world: World) -> None:
    sink = RecordingSink()
    subject = Subject.of(world.subject("pending").principal, denials=sink)

    with capture_logs() as logs:
        allowed = await can(tenant_session, subject, Action.UPDATE, TenantResource(world.tenant_id))

    assert allowed is False
    assert [log for log in logs if log["event"] == "access_denied"] == []
    assert sink.denials == []
