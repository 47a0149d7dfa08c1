"""Request and response shapes of legacies, their members and invitations.

Text is refused (422), never silently cleaned, when it holds a null byte or another control
character: what a client sends is what is stored, or nothing is.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from mosaic.identity.membership_schemas import Email
from mosaic.models import MembershipState, ScopeRole

NAME_MAX = 200
BIOGRAPHY_MAX = 20_000
# C0 controls and DEL, except tab and line breaks (which a biography may hold); C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile(r"[\t\n\r]")


def _no_controls(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _single_line(value: str) -> str:
    if _LINE_BREAKS.search(_no_controls(value)):
        raise ValueError("must be a single line")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX),
    AfterValidator(_single_line),
]
Biography = Annotated[
    str, StringConstraints(max_length=BIOGRAPHY_MAX), AfterValidator(_no_controls)
]
SearchText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX),
    AfterValidator(_single_line),
]


def check_dates(birth: date | None, death: date | None) -> None:
    """Raise ``ValueError`` when a death date comes before the birth date."""
    if birth is not None and death is not None and death < birth:
        raise ValueError("death_date cannot be before birth_date")


class LegacyCreate(BaseModel):
    """A new legacy; its slug is derived from the name."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    birth_date: date | None = None
    death_date: date | None = None
    biography: Biography | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> Self:
        check_dates(self.birth_date, self.death_date)
        return self


class LegacyReplace(LegacyCreate):
    """``PUT``: every editable field at once (a field left out is cleared). The slug stays."""


class LegacyPatch(BaseModel):
    """``PATCH``: only the fields sent change; ``null`` clears a date or the biography."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    birth_date: date | None = None
    death_date: date | None = None
    biography: Biography | None = None

    @model_validator(mode="after")
    def _name_not_cleared(self) -> Self:
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be null")
        check_dates(self.birth_date, self.death_date)
        return self


class LegacyRead(BaseModel):
    """A legacy as every reader sees it (no caller-specific fields, so its ETag is shared)."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    slug: str
    birth_date: date | None
    death_date: date | None
    biography: str | None
    created_by: UUID | None
    version: int
    created_at: datetime
    updated_at: datetime


class LegacySearchHit(LegacyRead):
    """A search result and how closely its name matches (0 to 1)."""

    score: float


class LegacyMemberRead(BaseModel):
    """A member of a legacy, or a pending request to join it."""

    legacy_id: UUID
    user_id: UUID
    email: str
    display_name: str
    role: ScopeRole
    state: MembershipState
    joined_at: datetime | None
    approved_by: UUID | None
    requested_at: datetime


class LegacyMemberRoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: ScopeRole


class LegacyMemberApproval(BaseModel):
    """Approve a request to join, optionally in another role than the default."""

    model_config = ConfigDict(extra="forbid")

    role: ScopeRole = ScopeRole.CONTRIBUTOR


class LegacyInvitationCreate(BaseModel):
    """Invite by email, or (no email) make a link anyone in the tenant may accept once."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    role: ScopeRole = ScopeRole.CONTRIBUTOR
    expires_in_hours: int = Field(default=168, ge=1, le=720, description="At most 30 days")


class LegacyInvitationRead(BaseModel):
    """An invitation as listed: never its token."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    legacy_id: UUID
    email: str | None
    role: ScopeRole
    invited_by: UUID | None
    expires_at: datetime
    accepted_at: datetime | None
    accepted_by: UUID | None
    revoked_at: datetime | None
    created_at: datetime


class LegacyInvitationCreated(LegacyInvitationRead):
    """The answer to a create: the only time the token is shown."""

    token: str = Field(description="Share it (a link invitation); it is never shown again.")
    accept_path: str = Field(description="Where the invitee POSTs the token to accept")


class LegacyInvitationAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, StringConstraints(min_length=16, max_length=128)]
