"""The admin API's use cases: each authorizes through the policy, then acts on dead letters or
reads the event audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from mosaic import authz
from mosaic.authz import Action, AuditEventResource, DeadLetterResource, Subject
from mosaic.events import audit_trail, dead_letters
from mosaic.events.bus import Bus
from mosaic.identity import audit
from mosaic.identity.audit import AuditAction, Origin
from mosaic.models import EventAuditEntry, EventDeadLetter


async def list_dead_letters(
    session: AsyncSession,
    *,
    subject: Subject,
    consumer: str | None,
    after: int | None,
    limit: int,
) -> Sequence[EventDeadLetter]:
    await authz.authorize(session, subject, Action.LIST, DeadLetterResource())
    return await dead_letters.list_dead_letters(
        session, consumer=consumer, after=after, limit=limit
    )


async def get_dead_letter(
    session: AsyncSession, *, subject: Subject, dead_letter_id: int
) -> EventDeadLetter:
    await authz.authorize(
        session, subject, Action.READ, DeadLetterResource(dead_letter_id=dead_letter_id)
    )
    return await dead_letters.get(session, dead_letter_id)


async def replay_dead_letter(
    session: AsyncSession, *, subject: Subject, bus: Bus, dead_letter_id: int, origin: Origin
) -> EventDeadLetter:
    await authz.authorize(
        session, subject, Action.UPDATE, DeadLetterResource(dead_letter_id=dead_letter_id)
    )
    replayed = await dead_letters.replay(session, bus, dead_letter_id)
    await _audit(session, AuditAction.DEAD_LETTER_REPLAYED, replayed, subject, origin)
    return replayed


async def discard_dead_letter(
    session: AsyncSession, *, subject: Subject, dead_letter_id: int, origin: Origin
) -> None:
    await authz.authorize(
        session, subject, Action.DELETE, DeadLetterResource(dead_letter_id=dead_letter_id)
    )
    discarded = await dead_letters.discard(session, dead_letter_id)
    await _audit(session, AuditAction.DEAD_LETTER_DISCARDED, discarded, subject, origin)


async def _audit(
    session: AsyncSession,
    action: AuditAction,
    dead_letter: EventDeadLetter,
    subject: Subject,
    origin: Origin,
) -> None:
    entry = dead_letters.audit_record(
        action,
        dead_letter,
        actor=subject.principal.key,
        actor_user_id=subject.user_id,
        origin=origin,
    )
    await audit.record(session, entry)


async def list_event_audit_log(
    session: AsyncSession,
    *,
    subject: Subject,
    event_type: str | None,
    since: datetime | None,
    after: UUID | None,
    limit: int,
) -> Sequence[EventAuditEntry]:
    """The subject's tenant's trail: its owners' and the installation's administrators'."""
    await authz.authorize(session, subject, Action.LIST, AuditEventResource(subject.tenant_id))
    return await audit_trail.list_entries(
        session, event_type=event_type, since=since, after=after, limit=limit
    )
