"""Domain events of identity: accounts, tenant memberships, invitations, API keys.

Payloads carry ids, roles and the names of changed fields only: never an email, a name, a
token or a hash, so the outbox (kept for replay) holds no personal data or secrets.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from mosaic.core.principal import Principal
from mosaic.events import DomainEvent
from mosaic.models import ScopeRole


def actor_of(principal: Principal) -> str:
    """The outbox's ``actor_id``: the acting user, else the credential (a service key)."""
    return str(principal.user_id) if principal.user_id is not None else principal.key


class UserEvent(DomainEvent):
    """Something that happened to an account; ``resource_id`` is the user's id.

    Accounts are installation-wide, but every event has a tenant (consumers run bound to it,
    and the audit trail is tenant-scoped): the tenant the change was made in, as
    ``UserErased`` does, or each tenant the user belongs to.
    """

    resource_kind: ClassVar[str] = "user"


class UserRegistered(UserEvent):
    by_admin: bool


class UserUpdated(UserEvent):
    changed: list[str]


class PasswordChanged(UserEvent):
    """The password was set anew after a reset; every session of the user was ended."""


class TenantMemberEvent(DomainEvent):
    """Something that happened to a tenant membership; ``resource_id`` is the user's id."""

    resource_kind: ClassVar[str] = "user"


class TenantMemberJoined(TenantMemberEvent):
    role: ScopeRole
    via: str  # "registration", "invitation" or "admin"


class TenantMemberRoleChanged(TenantMemberEvent):
    previous_role: ScopeRole
    role: ScopeRole


class TenantMemberRemoved(TenantMemberEvent):
    role: ScopeRole
    left: bool


class TenantInvitationEvent(DomainEvent):
    """Something that happened to an invitation; ``resource_id`` is the invitation's id."""

    resource_kind: ClassVar[str] = "tenant_invitation"

    invitation_id: UUID
    role: ScopeRole


class TenantInvitationCreated(TenantInvitationEvent):
    pass


class TenantInvitationRevoked(TenantInvitationEvent):
    pass


class TenantInvitationAccepted(TenantInvitationEvent):
    user_id: UUID


class ApiKeyEvent(DomainEvent):
    """Something that happened to an API key; ``resource_id`` is the key's id."""

    resource_kind: ClassVar[str] = "api_key"

    api_key_id: UUID


class ApiKeyCreated(ApiKeyEvent):
    scopes: list[str]


class ApiKeyRevoked(ApiKeyEvent):
    pass
