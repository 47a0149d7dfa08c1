"""Domain events of legacies, their members and invitations (past tense, payloads without
secrets: an invitation's token never leaves the response that created it)."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from mosaic.events import DomainEvent
from mosaic.models import ScopeRole


class LegacyEvent(DomainEvent):
    """Something that happened to a legacy; ``resource_id`` is the legacy's id."""

    resource_kind: ClassVar[str] = "legacy"


class LegacyCreated(LegacyEvent):
    name: str
    slug: str


class LegacyUpdated(LegacyEvent):
    changed: list[str]
    legacy_version: int


class LegacyDeleted(LegacyEvent):
    slug: str


class MemberEvent(DomainEvent):
    """Something that happened to a membership; ``resource_id`` is the legacy's id."""

    resource_kind: ClassVar[str] = "legacy_member"

    user_id: UUID


class MemberRequested(MemberEvent):
    pass


class MemberJoined(MemberEvent):
    role: ScopeRole
    via: str  # "created", "approved" or "invitation"


class MemberRoleChanged(MemberEvent):
    previous_role: ScopeRole
    role: ScopeRole


class MemberRemoved(MemberEvent):
    role: ScopeRole
    was_pending: bool


class MemberLeft(MemberEvent):
    role: ScopeRole


class InvitationEvent(DomainEvent):
    """Something that happened to an invitation; ``resource_id`` is the invitation's id."""

    resource_kind: ClassVar[str] = "legacy_invitation"

    invitation_id: UUID
    legacy_id: UUID
    role: ScopeRole


class LegacyInvitationCreated(InvitationEvent):
    by_email: bool


class LegacyInvitationAccepted(InvitationEvent):
    user_id: UUID
