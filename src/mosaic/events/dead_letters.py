"""Dead letters, kept in PostgreSQL whatever the bus: list, inspect, replay, discard.

The worker writes them (as the owner); operators read and act on them through the CLI (owner)
or the admin API (application role: read and delete only). Replaying re-delivers the envelope
to its consumer alone, with a fresh attempt count, and removes the dead letter. Either way the
audit log says who did it (:func:`audit_record`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.errors import MosaicError
from mosaic.core.pagination import inline_limit
from mosaic.events.bus import Bus, Delivery, Envelope, MalformedMessage
from mosaic.identity.audit import AuditAction, AuditRecord, Origin
from mosaic.models import EventDeadLetter


class DeadLetterNotFound(MosaicError):
    status_code = 404
    code = "DEAD_LETTER_NOT_FOUND"
    default_message = "No such dead letter."


class DeadLetterNotReplayable(MosaicError):
    status_code = 409
    code = "DEAD_LETTER_NOT_REPLAYABLE"
    default_message = "This dead letter's body is not an event envelope: it can only be discarded."


async def record(session: AsyncSession, delivery: Delivery, *, reason: str) -> None:
    """Keep ``delivery`` as a dead letter of its consumer, with why it was given up."""
    envelope = delivery.envelope
    await session.execute(
        insert(EventDeadLetter).values(
            consumer=delivery.consumer,
            event_id=envelope.id if envelope else None,
            event_type=envelope.type if envelope else None,
            body=_body(delivery),
            envelope=json.loads(envelope.to_json()) if envelope else None,
            reason=reason[:4000],
            attempts=delivery.attempt,
        )
    )


async def list_dead_letters(
    session: AsyncSession, *, consumer: str | None, after: int | None, limit: int
) -> Sequence[EventDeadLetter]:
    """Dead letters oldest first, of one consumer or all."""
    statement = select(EventDeadLetter).order_by(EventDeadLetter.id).limit(inline_limit(limit))
    if consumer is not None:
        statement = statement.where(EventDeadLetter.consumer == consumer)
    if after is not None:
        statement = statement.where(EventDeadLetter.id > after)
    return (await session.execute(statement)).scalars().all()


async def get(session: AsyncSession, dead_letter_id: int) -> EventDeadLetter:
    found = await session.get(EventDeadLetter, dead_letter_id)
    if found is None:
        raise DeadLetterNotFound()
    return found


async def discard(session: AsyncSession, dead_letter_id: int) -> EventDeadLetter:
    """Forget a dead letter for good; what it was."""
    dead_letter = await get(session, dead_letter_id)
    await session.delete(dead_letter)
    await session.flush()
    return dead_letter


async def replay(session: AsyncSession, bus: Bus, dead_letter_id: int) -> EventDeadLetter:
    """Re-deliver the dead letter's event to its consumer, then drop the dead letter.

    Published before the delete commits: a crash in between leaves the dead letter, and
    replaying it again is harmless (the consumer is idempotent).
    """
    dead_letter = await get(session, dead_letter_id)
    try:
        envelope = Envelope.from_json(dead_letter.body)
    except MalformedMessage:
        raise DeadLetterNotReplayable() from None
    await bus.publish_to(dead_letter.consumer, [envelope])
    await session.delete(dead_letter)
    await session.flush()
    return dead_letter


def _body(delivery: Delivery) -> str:
    if delivery.raw:
        return delivery.raw.decode(errors="replace")
    return delivery.envelope.to_json().decode() if delivery.envelope else ""


def audit_record(
    action: AuditAction,
    dead_letter: EventDeadLetter,
    *,
    actor: str,
    actor_user_id: UUID | None = None,
    origin: Origin | None = None,
) -> AuditRecord:
    """The audit log's line for replaying or discarding ``dead_letter`` (an installation-wide
    act: no tenant)."""
    return AuditRecord(
        action=action,
        actor_user_id=actor_user_id,
        actor=actor,
        subject=f"dead_letter:{dead_letter.id}",
        origin=origin or Origin(),
        details={
            "consumer": dead_letter.consumer,
            "event_id": dead_letter.event_id,
            "event_type": dead_letter.event_type,
        },
    )
