"""The real purge jobs delete expired rows, and only those."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from mosaic.core.ids import new_id
from mosaic.models import (
    BrowserSession,
    IdempotencyRecord,
    OidcLogin,
    PasswordResetToken,
    RefreshToken,
    ScopeRole,
    TenantInvitation,
)
from mosaic.scheduling import jobs
from mosaic.scheduling.job import JobFunction
from tests.conftest import MemberFactory, TenantFactory

NOW = datetime.now(UTC)
PAST = NOW - timedelta(minutes=1)
FUTURE = NOW + timedelta(hours=1)
Sessions = async_sessionmaker[AsyncSession]
T = TypeVar("T")


async def run_job(owner_sessions: Sessions, job: JobFunction) -> None:
    async with owner_sessions() as session, session.begin():
        await job(session, NOW)


async def remaining(
    owner_sessions: Sessions, column: InstrumentedAttribute[T], ids: Sequence[T]
) -> set[T]:
    """Which of ``ids`` are still stored."""
    async with owner_sessions() as session:
        return set((await session.scalars(select(column).where(column.in_(ids)))).all())


def token() -> str:
    return new_id().hex + new_id().hex


async def test_expired_idempotency_records_of_every_tenant_go(
    make_tenant: TenantFactory, owner_sessions: Sessions
) -> None:
    first, second = await make_tenant(), await make_tenant()
    async with owner_sessions() as session, session.begin():
        for tenant, key, expires in (
            (first, "expired", PAST),
            (second, "expired", PAST),
            (first, "live", FUTURE),
        ):
            session.add(
                IdempotencyRecord(
                    tenant_id=tenant.id,
                    principal="key:test",
                    key=key,
                    method="POST",
                    path="/api/v1/things",
                    request_hash="0" * 64,
                    status_code=201,
                    expires_at=expires,
                )
            )

    await run_job(owner_sessions, jobs.purge_idempotency_records)

    async with owner_sessions() as session:
        left = (
            await session.execute(
                select(IdempotencyRecord.tenant_id, IdempotencyRecord.key).where(
                    IdempotencyRecord.tenant_id.in_([first.id, second.id])
                )
            )
        ).all()
    assert [tuple(row) for row in left] == [(first.id, "live")]


async def test_refresh_tokens_go_only_when_their_whole_family_expired(
    make_tenant: TenantFactory, make_member: MemberFactory, owner_sessions: Sessions
) -> None:
    tenant = await make_tenant()
    member = await make_member(tenant)
    dead_family, live_family = new_id(), new_id()
    rows = [
        # A dead family: used and unused tokens, all expired.
        (dead_family, PAST - timedelta(days=1), PAST),
        (dead_family, PAST, None),
        # A live family: an expired, used token stays, to catch its replay.
        (live_family, PAST, PAST),
        (live_family, FUTURE, None),
    ]
    ids: list[UUID] = []
    async with owner_sessions() as session, session.begin():
        for family, expires, used in rows:
            row = RefreshToken(
                family_id=family,
                user_id=member.user_id,
                tenant_id=tenant.id,
                token_hash=token()[:64],
                created_at=NOW - timedelta(days=2),
                expires_at=expires,
                used_at=used,
            )
            session.add(row)
            await session.flush()
            ids.append(row.id)

    await run_job(owner_sessions, jobs.purge_refresh_tokens)

    assert await remaining(owner_sessions, RefreshToken.id, ids) == set(ids[2:])


async def test_expired_and_signed_out_browser_sessions_go(
    make_tenant: TenantFactory, make_member: MemberFactory, owner_sessions: Sessions
) -> None:
    tenant = await make_tenant()
    member = await make_member(tenant)
    ids: list[UUID] = []
    async with owner_sessions() as session, session.begin():
        for expires, revoked in ((PAST, None), (FUTURE, PAST), (FUTURE, None)):
            row = BrowserSession(
                session_hash=token()[:64],
                user_id=member.user_id,
                tenant_id=tenant.id,
                csrf_hash="0" * 64,
                created_at=NOW - timedelta(days=1),
                expires_at=expires,
                revoked_at=revoked,
            )
            session.add(row)
            await session.flush()
            ids.append(row.id)

    await run_job(owner_sessions, jobs.purge_browser_sessions)

    assert await remaining(owner_sessions, BrowserSession.id, ids) == {ids[2]}


async def test_abandoned_logins_and_spent_reset_tokens_go(
    make_tenant: TenantFactory, make_member: MemberFactory, owner_sessions: Sessions
) -> None:
    member = await make_member(await make_tenant())
    states = [token()[:64] for _ in range(2)]
    resets: list[UUID] = []
    async with owner_sessions() as session, session.begin():
        for state, expires in zip(states, (PAST, FUTURE), strict=True):
            session.add(
                OidcLogin(
                    state_hash=state,
                    provider="test",
                    nonce="n",
                    code_verifier="v",
                    redirect_to="/",
                    created_at=NOW - timedelta(minutes=10),
                    expires_at=expires,
                )
            )
        for expires, used in ((PAST, None), (FUTURE, PAST), (FUTURE, None)):
            row = PasswordResetToken(
                user_id=member.user_id,
                token_hash=token()[:64],
                created_at=NOW - timedelta(minutes=10),
                expires_at=expires,
                used_at=used,
            )
            session.add(row)
            await session.flush()
            resets.append(row.id)

    await run_job(owner_sessions, jobs.purge_sign_in_leftovers)

    assert await remaining(owner_sessions, OidcLogin.state_hash, list(states)) == {states[1]}
    assert await remaining(owner_sessions, PasswordResetToken.id, resets) == {resets[2]}


async def test_invitations_go_a_month_after_they_lapsed_unaccepted(
    make_tenant: TenantFactory, make_member: MemberFactory, owner_sessions: Sessions
) -> None:
    tenant = await make_tenant()
    member = await make_member(tenant)
    long_ago = NOW - timedelta(days=31)
    ids: list[UUID] = []
    async with owner_sessions() as session, session.begin():
        for expires, accepted in ((long_ago, None), (long_ago, long_ago), (PAST, None)):
            row = TenantInvitation(
                tenant_id=tenant.id,
                email="invitee@example.test",
                role=ScopeRole.VIEWER,
                token_hash=token()[:64],
                expires_at=expires,
                accepted_at=accepted,
                accepted_by=member.user_id if accepted else None,
            )
            session.add(row)
            await session.flush()
            ids.append(row.id)

    await run_job(owner_sessions, jobs.purge_tenant_invitations)

    # The accepted one is history; the recently lapsed one is still shown to owners.
    assert await remaining(owner_sessions, TenantInvitation.id, ids) == set(ids[1:])
