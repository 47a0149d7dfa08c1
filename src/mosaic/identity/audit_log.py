"""Reading the security audit log: platform admins see every tenant's events, a tenant's
owners see their tenant's (the policy's filter decides, in SQL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic import authz
from mosaic.authz import ResourceKind, RowColumns, ScopeKind, Subject
from mosaic.core.pagination import inline_limit
from mosaic.models import AuditEvent

AUDIT_EVENT_ROWS = RowColumns(
    kind=ResourceKind.AUDIT_EVENT, scopes={ScopeKind.TENANT: AuditEvent.tenant_id}
)


async def list_events(
    session: AsyncSession,
    *,
    subject: Subject,
    action: str | None,
    actor_user_id: UUID | None,
    since: datetime | None,
    after: UUID | None,
    limit: int,
) -> Sequence[AuditEvent]:
    """Events ``subject`` may read, oldest first, narrowed by the filters given."""
    visible = await authz.read_filter(subject, AUDIT_EVENT_ROWS)
    return await _select_events(
        session,
        visible=visible,
        action=action,
        actor_user_id=actor_user_id,
        since=since,
        after=after,
        limit=limit,
    )


async def _select_events(
    session: AsyncSession,
    *,
    visible: ColumnElement[bool],
    action: str | None,
    actor_user_id: UUID | None,
    since: datetime | None,
    after: UUID | None,
    limit: int,
) -> Sequence[AuditEvent]:
    statement = select(AuditEvent).where(visible).order_by(AuditEvent.id).limit(inline_limit(limit))
    if action is not None:
        statement = statement.where(AuditEvent.action == action)
    if actor_user_id is not None:
        statement = statement.where(AuditEvent.actor_user_id == actor_user_id)
    if since is not None:
        statement = statement.where(AuditEvent.occurred_at >= since)
    if after is not None:
        statement = statement.where(AuditEvent.id > after)
    return (await session.execute(statement)).scalars().all()
