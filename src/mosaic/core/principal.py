"""Who is acting: the verified subject of a request, and the one tenant it acts in."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID


class PrincipalKind(StrEnum):
    USER = "user"
    API_KEY = "api_key"


class Credential(StrEnum):
    """How the principal proved who it is."""

    ACCESS_TOKEN = "access_token"  # noqa: S105 - a credential kind, not a secret
    SESSION_COOKIE = "session_cookie"
    API_KEY = "api_key"


@dataclass(frozen=True)
class Principal:
    """The result of authentication. ``tenant_id`` comes from the credential, never a header.

    For a user, ``subject_id`` is the user's id and ``platform_role`` their installation-wide
    role; scope roles (tenant, legacy, story) are looked up by the policy module. For an API
    key, ``subject_id`` is the key's id, ``user_id`` the user who created it (if any), and
    ``scopes`` bound what it may do.
    """

    kind: PrincipalKind
    subject_id: UUID
    tenant_id: UUID
    credential: Credential
    scopes: frozenset[str] = field(default_factory=frozenset)
    user_id: UUID | None = None
    platform_role: str | None = None

    @property
    def key(self) -> str:
        """A stable string naming the subject, e.g. for idempotency records and logs."""
        return f"{self.kind.value}:{self.subject_id}"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
