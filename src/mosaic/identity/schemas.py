"""Request and response shapes of the identity API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    computed_field,
)

from mosaic.authz.rules import KNOWN_SCOPES as KNOWN_SCOPES  # the policy owns the vocabulary
from mosaic.models import PlatformRole, UserStatus

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


# Users and authentication


def normalise_email(value: str) -> str:
    """Trimmed and lower-cased: how emails are stored and compared."""
    return value.strip().lower()


def _valid_email(value: str) -> str:
    try:
        validated = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError("is not a valid email address") from exc
    return normalise_email(validated.normalized)


Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(_valid_email)]
# Login takes any string: a malformed email is just a wrong credential, not a 422 that tells
# the caller something about the account.
LoginEmail = Annotated[str, StringConstraints(min_length=1, max_length=320)]
# The policy (length, content) is enforced by the service; this bound only caps the body.
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
PersonName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=100),
    AfterValidator(_no_control_characters),
]
DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_control_characters),
]
InvitationToken = Annotated[
    str,
    StringConstraints(min_length=16, max_length=128),
    Field(description="A token from an invitation mailed to this email: join its tenant"),
]
TenantRef = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=63),
    Field(description="The tenant to act in: its slug or id (default: the first one joined)"),
]


class UserRead(BaseModel):
    """A user, with the fields Knowledge Graph Lab modules read."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    email: str
    first_name: str
    last_name: str
    display_name: str
    avatar_url: str | None
    role: PlatformRole
    status: UserStatus
    created_at: datetime
    updated_at: datetime
    last_login: datetime | None = Field(
        validation_alias=AliasChoices("last_login", "last_login_at")
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def is_active(self) -> bool:
        return self.status is UserStatus.ACTIVE


class UserEnvelope(BaseModel):
    """``{"data": user}``, as ``GET /auth/validate`` answers."""

    data: UserRead


class ProfileUpdate(BaseModel):
    """What a user may change about themselves."""

    model_config = ConfigDict(extra="forbid")

    first_name: PersonName | None = None
    last_name: PersonName | None = None
    display_name: DisplayName | None = None
    avatar_url: HttpUrl | None = None


class UserAdminUpdate(ProfileUpdate):
    """What a platform admin may change about any user."""

    role: PlatformRole | None = None
    status: UserStatus | None = None


class UserCreate(BaseModel):
    """A user created by a platform admin (without a password, they sign in another way)."""

    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password | None = None
    first_name: PersonName = ""
    last_name: PersonName = ""
    display_name: DisplayName | None = None
    role: PlatformRole = PlatformRole.USER
    status: UserStatus = UserStatus.ACTIVE


class RegisterRequest(BaseModel):
    """Self-registration with a local password."""

    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password
    first_name: PersonName = ""
    last_name: PersonName = ""
    display_name: DisplayName | None = None
    invitation_token: InvitationToken | None = None


class RegisterAccepted(BaseModel):
    """The same answer whether or not the email already had an account."""

    message: str


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: LoginEmail
    password: Password
    tenant: TenantRef | None = None
    # Takes precedence over ``tenant``: the token is issued for the invitation's tenant.
    invitation_token: InvitationToken | None = None


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    tenant: TenantRef | None = None


class LogoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TokenPair(BaseModel):
    """An access token, the refresh token that renews it, and who they are for."""

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int = Field(description="Seconds until the access token expires")
    tenant_id: UUID
    user: UserRead


class IdentityRead(BaseModel):
    """An account at an identity provider, linked to the user."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    provider: str
    subject: str
    email: str | None
    email_verified: bool
    created_at: datetime
    last_login_at: datetime | None


class PasswordResetRequest(BaseModel):
    """Ask for a password-reset link mailed to ``email``."""

    model_config = ConfigDict(extra="forbid")

    email: Email


class PasswordResetRequested(BaseModel):
    """The same answer whether or not the email has an account that can be reset."""

    message: str


class PasswordResetConfirm(BaseModel):
    """The token from the mailed link and the new password."""

    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, StringConstraints(min_length=16, max_length=128)]
    new_password: Password
