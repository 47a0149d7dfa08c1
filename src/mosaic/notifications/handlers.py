"""The notifications consumer: domain events in, plain-text mails out.

The worker routes these event types here (see ``EVENT_TYPES``) and calls :func:`notify` once
per delivery, with a session and the configured mailer. Each handler re-reads the current
state before mailing: a request already decided, a member already gone or a flag already
resolved sends nothing. ``LegacyInvitationCreated`` is not here: the legacies module mails an
invitation itself, because the mail carries the invitation's token.

Delivery is at least once: a mail failure raises, the worker retries the whole event, and a
recipient mailed before the failure may get the message twice — preferable to losing it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.mail import Mailer
from mosaic.events.bus import Envelope
from mosaic.models import MembershipState
from mosaic.notifications import repository, templates

logger = structlog.get_logger(__name__)

MEMBER_REQUESTED = "MemberRequested"
MEMBER_JOINED = "MemberJoined"
MODERATION_FLAGGED = "ModerationFlagged"
EVENT_TYPES = (MEMBER_REQUESTED, MEMBER_JOINED, MODERATION_FLAGGED)


class UnusableEvent(ValueError):
    """The envelope lacks what this consumer needs (a tenant, a payload id): dead-letter it."""


async def notify(session: AsyncSession, envelope: Envelope, mailer: Mailer) -> None:
    """Mail whoever ``envelope`` concerns; other event types are ignored."""
    handler = _HANDLERS.get(envelope.type)
    if handler is None:
        return
    sent = await handler(session, envelope, mailer)
    logger.info("notifications_sent", event_id=envelope.id, type=envelope.type, count=sent)


async def _member_requested(session: AsyncSession, envelope: Envelope, mailer: Mailer) -> int:
    tenant_id = _tenant(envelope)
    # A member event's resource is the legacy; the member is the payload's user.
    legacy_id = _uuid(envelope, "resource_id", envelope.resource_id)
    (user_id,) = _ids(envelope, "user_id")
    member = await repository.legacy_member(
        session, tenant_id=tenant_id, legacy_id=legacy_id, user_id=user_id
    )
    legacy = await repository.legacy_name(session, tenant_id=tenant_id, legacy_id=legacy_id)
    requester = await repository.active_user(session, user_id)
    if member is None or member.state is not MembershipState.PENDING:
        return 0  # approved, declined or withdrawn before we got here
    if legacy is None or requester is None:
        return 0
    owners = await repository.legacy_owners(session, tenant_id=tenant_id, legacy_id=legacy_id)
    for owner in owners:
        await mailer.send(
            templates.member_requested(
                to=owner.email, owner=owner.name, requester=requester.name, legacy=legacy
            )
        )
    return len(owners)


async def _member_joined(session: AsyncSession, envelope: Envelope, mailer: Mailer) -> int:
    tenant_id = _tenant(envelope)
    # A member event's resource is the legacy; the member is the payload's user.
    legacy_id = _uuid(envelope, "resource_id", envelope.resource_id)
    (user_id,) = _ids(envelope, "user_id")
    member = await repository.legacy_member(
        session, tenant_id=tenant_id, legacy_id=legacy_id, user_id=user_id
    )
    legacy = await repository.legacy_name(session, tenant_id=tenant_id, legacy_id=legacy_id)
    newcomer = await repository.active_user(session, user_id)
    if member is None or member.state is not MembershipState.ACTIVE:
        return 0  # left or removed since
    if legacy is None or newcomer is None:
        return 0
    await mailer.send(
        templates.member_joined(to=newcomer.email, member=newcomer.name, legacy=legacy)
    )
    return 1


async def _moderation_flagged(session: AsyncSession, envelope: Envelope, mailer: Mailer) -> int:
    tenant_id = _tenant(envelope)
    # A flag event's resource is the flag; the payload names its story.
    flag_id = _uuid(envelope, "resource_id", envelope.resource_id)
    (story_id,) = _ids(envelope, "story_id")
    flag = await repository.open_flag(
        session, tenant_id=tenant_id, story_id=story_id, flag_id=flag_id
    )
    if flag is None:
        return 0  # resolved already, or the story is gone
    moderators = [
        moderator
        for moderator in await repository.tenant_moderators(session, tenant_id=tenant_id)
        # Whoever raised the flag knows; and they stay anonymous to no one but themselves.
        if moderator.user_id != flag.flagged_by
    ]
    for moderator in moderators:
        await mailer.send(
            templates.story_flagged(
                to=moderator.email,
                moderator=moderator.name,
                story=flag.title,
                legacy=flag.legacy_name,
                reason=flag.reason,
            )
        )
    return len(moderators)


_HANDLERS: dict[str, Callable[[AsyncSession, Envelope, Mailer], Awaitable[int]]] = {
    MEMBER_REQUESTED: _member_requested,
    MEMBER_JOINED: _member_joined,
    MODERATION_FLAGGED: _moderation_flagged,
}
# The event types the notifications consumer subscribes to.
NOTIFIED_EVENT_TYPES = frozenset(_HANDLERS)


def _tenant(envelope: Envelope) -> UUID:
    if envelope.tenant_id is None:
        raise UnusableEvent(f"{envelope.type} {envelope.id} has no tenant")
    return _uuid(envelope, "tenant_id", envelope.tenant_id)


def _ids(envelope: Envelope, *names: str) -> tuple[UUID, ...]:
    return tuple(_uuid(envelope, name, envelope.payload.get(name)) for name in names)


def _uuid(envelope: Envelope, name: str, value: object) -> UUID:
    if value is None:
        raise UnusableEvent(f"{envelope.type} {envelope.id}: no {name}")
    try:
        return UUID(str(value))
    except ValueError as exc:
        raise UnusableEvent(f"{envelope.type} {envelope.id}: {name} is not a UUID") from exc
