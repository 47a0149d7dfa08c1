"""The notifications consumer, with rows made through the ORM and mail read from .eml files."""

from __future__ import annotations

import email
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.core.ids import new_id
from mosaic.core.mail import FolderMailer
from mosaic.events.bus import Envelope
from mosaic.legacies.events import MemberJoined
from mosaic.models import (
    FlagReason,
    FlagState,
    Legacy,
    LegacyMember,
    MembershipState,
    ScopeRole,
    Story,
    StoryFlag,
    User,
    UserStatus,
)
from mosaic.notifications.handlers import UnusableEvent, notify
from tests.conftest import Member, MemberFactory, TenantFactory, TenantWithKey

Sessions = async_sessionmaker[AsyncSession]


@dataclass
class Outbox:
    """A folder mailer and what it wrote."""

    mailer: FolderMailer

    def messages(self) -> list[EmailMessage]:
        if not self.mailer.directory.exists():
            return []
        return [
            email.message_from_bytes(path.read_bytes(), _class=EmailMessage, policy=default)
            for path in sorted(self.mailer.directory.glob("*.eml"))
        ]

    def recipients(self) -> list[str]:
        return sorted(message["To"] for message in self.messages())


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(FolderMailer(tmp_path / "mail"))


@pytest.fixture
async def tenant(make_tenant: TenantFactory) -> TenantWithKey:
    return await make_tenant()


Deliver = Callable[..., Awaitable[None]]


@pytest.fixture
def deliver(owner_sessions: Sessions, outbox: Outbox, tenant: TenantWithKey) -> Deliver:
    """Hand one envelope of ``type`` with ``payload`` to the consumer, as the worker would."""

    async def run(type_: str, tenant_id: UUID | None = tenant.id, **payload: Any) -> None:
        envelope = Envelope(
            id=str(new_id()),
            type=type_,
            version=1,
            occurred_at=datetime.now(UTC),
            tenant_id=str(tenant_id) if tenant_id else None,
            actor_id=None,
            resource_kind="legacy",
            # As the domain events do: a member event's resource is the legacy, a flag
            # event's the flag; the rest is payload.
            resource_id=str(payload.pop("legacy_id", None) or payload.pop("flag_id", new_id())),
            correlation_id=None,
            traceparent=None,
            payload={name: str(value) for name, value in payload.items()},
            position=1,
        )
        async with owner_sessions() as session, session.begin():
            await notify(session, envelope, outbox.mailer)

    return run


async def make_legacy(owner_sessions: Sessions, tenant: TenantWithKey, name: str) -> UUID:
    legacy_id = new_id()
    async with owner_sessions() as session, session.begin():
        session.add(Legacy(id=legacy_id, tenant_id=tenant.id, name=name, slug=legacy_id.hex))
    return legacy_id


async def join(
    owner_sessions: Sessions,
    member: Member,
    legacy_id: UUID,
    role: ScopeRole = ScopeRole.CONTRIBUTOR,
    state: MembershipState = MembershipState.ACTIVE,
) -> None:
    async with owner_sessions() as session, session.begin():
        session.add(
            LegacyMember(
                tenant_id=member.tenant_id,
                legacy_id=legacy_id,
                user_id=member.user_id,
                role=role,
                state=state,
            )
        )


async def rename(owner_sessions: Sessions, member: Member, display_name: str) -> None:
    async with owner_sessions() as session, session.begin():
        user = await session.get(User, member.user_id)
        assert user is not None
        user.display_name = display_name


async def test_a_join_request_is_mailed_to_the_legacys_active_owners_only(
    deliver: Deliver,
    outbox: Outbox,
    tenant: TenantWithKey,
    make_member: MemberFactory,
    owner_sessions: Sessions,
) -> None:
    legacy_id = await make_legacy(owner_sessions, tenant, "Grandma Rose")
    owner, co_owner, editor, suspended_owner, requester = [
        await make_member(tenant, ScopeRole.VIEWER) for _ in range(5)
    ]
    await join(owner_sessions, owner, legacy_id, ScopeRole.OWNER)
    await join(owner_sessions, co_owner, legacy_id, ScopeRole.OWNER)
    await join(owner_sessions, editor, legacy_id, ScopeRole.EDITOR)
    await join(
        owner_sessions, suspended_owner, legacy_id, ScopeRole.OWNER, MembershipState.SUSPENDED
    )
    await join(owner_sessions, requester, legacy_id, state=MembershipState.PENDING)
    await rename(owner_sessions, requester, "Cousin\nBcc: evil@example.test Tom")
    await rename(owner_sessions, owner, "Ada")

    await deliver("MemberRequested", legacy_id=legacy_id, user_id=requester.user_id)

    assert outbox.recipients() == sorted([owner.email, co_owner.email])
    mail = next(message for message in outbox.messages() if message["To"] == owner.email)
    # A name typed with a line break stays one line: it cannot add a header.
    assert mail["Subject"] == "Cousin Bcc: evil@example.test Tom asks to join Grandma Rose"
    assert mail["Bcc"] is None
    body = mail.get_content()
    assert body.startswith("Hello Ada,")
    assert "\u201cGrandma Rose\u201d" in body
    # The owners see who asks, not the requester's address.
    assert requester.email not in str(mail)


async def test_a_request_already_decided_sends_nothing(
    deliver: Deliver,
    outbox: Outbox,
    tenant: TenantWithKey,
    make_member: MemberFactory,
    owner_sessions: Sessions,
) -> None:
    legacy_id = await make_legacy(owner_sessions, tenant, "Uncle Joe")
    owner, requester = await make_member(tenant), await make_member(tenant)
    await join(owner_sessions, owner, legacy_id, ScopeRole.OWNER)
    await join(owner_sessions, requester, legacy_id, state=MembershipState.ACTIVE)

    await deliver("MemberRequested", legacy_id=legacy_id, user_id=requester.user_id)

    assert outbox.messages() == []


async def test_a_new_member_is_welcomed(
    deliver: Deliver,
    outbox: Outbox,
    tenant: TenantWithKey,
    make_member: MemberFactory,
    owner_sessions: Sessions,
) -> None:
    legacy_id = await make_legacy(owner_sessions, tenant, "Grandpa Li")
    newcomer = await make_member(tenant, ScopeRole.VIEWER)
    await join(owner_sessions, newcomer, legacy_id)
    await rename(owner_sessions, newcomer, "Mei")

    await deliver("MemberJoined", legacy_id=legacy_id, user_id=newcomer.user_id)

    [mail] = outbox.messages()
    assert mail["To"] == newcomer.email
    assert mail["Subject"] == "Welcome to Grandpa Li"
    assert mail.get_content().startswith("Hello Mei,")


async def test_nobody_is_welcomed_into_another_tenants_legacy(
    deliver: Deliver,
    outbox: Outbox,
    make_tenant: TenantFactory,
    make_member: MemberFactory,
    owner_sessions: Sessions,
) -> None:
    elsewhere = await make_tenant()
    legacy_id = await make_legacy(owner_sessions, elsewhere, "Not yours")
    newcomer = await make_member(elsewhere)
    await join(owner_sessions, newcomer, legacy_id)

    # The envelope claims the fixture's tenant: the legacy is not found there.
    await deliver("MemberJoined", legacy_id=legacy_id, user_id=newcomer.user_id)

    assert outbox.messages() == []


async def test_a_disabled_account_gets_no_mail(
    deliver: Deliver,
    outbox: Outbox,
    tenant: TenantWithKey,
    make_member: MemberFactory,
    owner_sessions: Sessions,
) -> None:
    legacy_id = await make_legacy(owner_sessions, tenant, "Aunt Sue")
    newcomer = await make_member(tenant)
    await join(owner_sessions, newcomer, legacy_id)
    async with owner_sessions() as session, session.begin():
        user = await session.get(User, newcomer.user_id)
        assert user is not None
        user.status = UserStatus.DISABLED

    await deliver("MemberJoined", legacy_id=legacy_id, user_id=newcomer.user_id)

    assert outbox.messages() == []


async def make_flag(
    owner_sessions: Sessions,
    tenant: TenantWithKey,
    legacy_id: UUID,
    *,
    flagged_by: UUID,
    state: FlagState = FlagState.OPEN,
) -> tuple[UUID, UUID]:
    story_id, flag_id = new_id(), new_id()
    async with owner_sessions() as session, session.begin():
        session.add(
            Story(
                id=story_id,
                tenant_id=tenant.id,
                legacy_id=legacy_id,
                title="The summer of 1962",
                content="We drove to the coast.",
            )
        )
        await session.flush()
        session.add(
            StoryFlag(
                id=flag_id,
                tenant_id=tenant.id,
                story_id=story_id,
                flagged_by=flagged_by,
                reason=FlagReason.PRIVACY,
                note="It names my neighbour, Jane Doe, at 12 Elm Street",
                state=state,
            )
        )
    return story_id, flag_id


async def test_a_flag_is_mailed_to_the_tenants_owners_and_editors_but_not_the_flagger(
    deliver: Deliver,
    outbox: Outbox,
    tenant: TenantWithKey,
    make_member: MemberFactory,
    owner_sessions: Sessions,
) -> None:
    legacy_id = await make_legacy(owner_sessions, tenant, "Grandma Rose")
    owner = await make_member(tenant, ScopeRole.OWNER)
    editor = await make_member(tenant, ScopeRole.EDITOR)
    flagging_editor = await make_member(tenant, ScopeRole.EDITOR)
    await make_member(tenant, ScopeRole.CONTRIBUTOR)
    await make_member(tenant, ScopeRole.OWNER, state=MembershipState.SUSPENDED)
    story_id, flag_id = await make_flag(
        owner_sessions, tenant, legacy_id, flagged_by=flagging_editor.user_id
    )

    await deliver("ModerationFlagged", story_id=story_id, flag_id=flag_id)

    assert outbox.recipients() == sorted([owner.email, editor.email])
    mail = outbox.messages()[0]
    assert mail["Subject"] == "A story in Grandma Rose was flagged for review"
    body = mail.get_content()
    assert "\u201cThe summer of 1962\u201d" in body
    assert "a privacy concern" in body
    # The flagger's note is for the moderation queue, not for mailboxes.
    assert "Jane Doe" not in body
    assert flagging_editor.email not in str(mail)


async def test_a_resolved_flag_sends_nothing(
    deliver: Deliver,
    outbox: Outbox,
    tenant: TenantWithKey,
    make_member: MemberFactory,
    owner_sessions: Sessions,
) -> None:
    legacy_id = await make_legacy(owner_sessions, tenant, "Uncle Joe")
    owner = await make_member(tenant, ScopeRole.OWNER)
    story_id, flag_id = await make_flag(
        owner_sessions, tenant, legacy_id, flagged_by=owner.user_id, state=FlagState.RESOLVED
    )
    await make_member(tenant, ScopeRole.EDITOR)

    await deliver("ModerationFlagged", story_id=story_id, flag_id=flag_id)

    assert outbox.messages() == []


async def test_other_event_types_are_ignored(deliver: Deliver, outbox: Outbox) -> None:
    await deliver("LegacyInvitationCreated", legacy_id=new_id(), invitation_id=new_id())
    await deliver("StoryCreated", story_id=new_id())

    assert outbox.messages() == []


async def test_an_envelope_without_what_the_consumer_needs_is_unusable(
    deliver: Deliver,
) -> None:
    with pytest.raises(UnusableEvent, match="no user_id"):
        await deliver("MemberJoined", legacy_id=new_id())
    with pytest.raises(UnusableEvent, match="resource_id is not a UUID"):
        await deliver("ModerationFlagged", story_id=new_id(), flag_id="seven")
    with pytest.raises(UnusableEvent, match="has no tenant"):
        await deliver("MemberJoined", tenant_id=None, legacy_id=new_id(), user_id=new_id())


async def test_the_domain_events_carry_what_the_consumer_reads(
    outbox: Outbox,
    tenant: TenantWithKey,
    make_member: MemberFactory,
    owner_sessions: Sessions,
) -> None:
    """The envelope as the relay publishes it from the legacies module's own event."""
    legacy_id = await make_legacy(owner_sessions, tenant, "Grandpa Li")
    newcomer = await make_member(tenant, ScopeRole.VIEWER)
    await join(owner_sessions, newcomer, legacy_id)
    event = MemberJoined(
        tenant_id=tenant.tenant.id,
        resource_id=legacy_id,
        user_id=newcomer.user_id,
        role=ScopeRole.VIEWER,
        via="approved",
    )
    envelope = Envelope(
        id=str(new_id()),
        type=event.type_name(),
        version=event.version,
        occurred_at=datetime.now(UTC),
        tenant_id=str(event.tenant_id),
        actor_id=None,
        resource_kind=event.resource_kind,
        resource_id=str(event.resource_id),
        correlation_id=None,
        traceparent=None,
        payload=event.payload(),
        position=1,
    )

    async with owner_sessions() as session, session.begin():
        await notify(session, envelope, outbox.mailer)

    [mail] = outbox.messages()
    assert mail["To"] == newcomer.email
