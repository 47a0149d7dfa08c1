"""Who is acting: the verified subject of a request, and the one tenant it acts in."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID


class PrincipalKind(StrEnum):
    API_KEY = "api_key"


@dataclass(frozen=True)
class Principal:
    """The result of authentication. ``tenant_id`` comes from the credential, never a header."""

    kind: PrincipalKind
    subject_id: UUID
    tenant_id: UUID
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def key(self) -> str:
        """A stable string naming the subject, e.g. for idempotency records and logs."""
        return f"{self.kind.value}:{self.subject_id}"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
