"""Request and response shapes of the identity API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from mosaic.authz.rules import KNOWN_SCOPES as KNOWN_SCOPES  # the policy owns the vocabulary

_SCOPE = re.compile(r"^[a-z][a-z0-9_-]*(:[a-z][a-z0-9_-]*)?$")


def _no_control_characters(value: str) -> str:
    if any(not character.isprintable() for character in value):
        raise ValueError("must not contain control characters")
    return value


def _known_scope(value: str) -> str:
    if not _SCOPE.match(value) or value not in KNOWN_SCOPES:
        raise ValueError(f"unknown scope; known scopes are {', '.join(sorted(KNOWN_SCOPES))}")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_no_control_characters),
]
Scope = Annotated[str, AfterValidator(_known_scope)]


class ApiKeyCreate(BaseModel):
    """What a caller sends to create an API key."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    scopes: list[Scope] = Field(default_factory=list, max_length=len(KNOWN_SCOPES))
    # AwareDatetime: a naive time means a different instant on every server, so it is a 422
    # that points at the field rather than a guess.
    expires_at: AwareDatetime | None = Field(
        default=None, description="When the key stops working (RFC 3339, with a time zone)"
    )


class ApiKeyRead(BaseModel):
    """An API key as listed: never its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    prefix: str
    scopes: list[str]
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class ApiKeyCreated(ApiKeyRead):
    """The answer to a create: the only time the key itself is shown."""

    key: str = Field(description="The API key. Store it now: it is never shown again.")


class TenantRead(BaseModel):
    """The tenant a credential acts in."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    slug: str
    name: str
    created_at: datetime
