"""Request and response shapes of tenant members and invitations."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from mosaic.models import MembershipState, ScopeRole

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("must be an email address")
    return value.lower()


Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=320), AfterValidator(_email)
]


class MemberRead(BaseModel):
    """A member of the tenant: who, in which role and state."""

    tenant_id: UUID
    user_id: UUID
    email: str
    display_name: str
    role: ScopeRole
    state: MembershipState
    joined_at: datetime


class MemberRoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: ScopeRole


class InvitationCreate(BaseModel):
    """Invite someone by email to join the tenant in a role."""

    model_config = ConfigDict(extra="forbid")

    email: Email
    role: ScopeRole = ScopeRole.CONTRIBUTOR
    expires_in_hours: int = Field(default=168, ge=1, le=720, description="At most 30 days")


class InvitationRead(BaseModel):
    """An invitation as listed: never its token."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    email: str
    role: ScopeRole
    invited_by: UUID | None
    expires_at: datetime
    accepted_at: datetime | None
    accepted_by: UUID | None
    revoked_at: datetime | None
    created_at: datetime


class InvitationCreated(InvitationRead):
    """The answer to a create: the only time the token is shown."""

    token: str = Field(description="Send it to the invitee; it is never shown again.")
    accept_path: str = Field(description="Where the invitee POSTs the token to accept")


class InvitationAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, StringConstraints(min_length=16, max_length=128)]
