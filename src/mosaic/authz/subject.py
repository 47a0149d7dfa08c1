"""The subject of a decision: a principal with the facts the policy needs about it, and the
request-scoped memo of decisions already taken."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from mosaic.core.principal import Principal, PrincipalKind
from mosaic.models import PlatformRole

if TYPE_CHECKING:
    from mosaic.authz.actions import Action
    from mosaic.authz.policy import Decision
    from mosaic.authz.resources import Resource, ScopeRef
    from mosaic.authz.roles import RoleGrant


class DenialSink(Protocol):
    """Where denials of write actions go besides the log (the audit trail)."""

    def record(
        self, subject: Subject, action: Action, target: str, reason: str
    ) -> Awaitable[None]: ...


@dataclass
class DecisionMemo:
    """Decisions and role grants already looked up, for one request only.

    Never shared between requests: a role changed by one request is seen by the next.
    """

    decisions: dict[tuple[Action, Resource], Decision] = field(default_factory=dict)
    grants: dict[ScopeRef, tuple[RoleGrant, ...]] = field(default_factory=dict)
    lookups: int = 0

    def clear(self) -> None:
        """Forget everything (after this request changed someone's roles)."""
        self.decisions.clear()
        self.grants.clear()


@dataclass(frozen=True)
class Subject:
    """Who is asking. ``scopes`` is None when nothing narrows the subject (a user's own login);
    an API key's scopes bound what it may do, even when it acts as its user."""

    principal: Principal
    user_id: UUID | None
    platform_role: PlatformRole | None = None
    email: str | None = None
    disabled: bool = False
    memo: DecisionMemo = field(default_factory=DecisionMemo, compare=False, repr=False)
    denials: DenialSink | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(
        cls,
        principal: Principal,
        *,
        platform_role: PlatformRole | None = None,
        email: str | None = None,
        disabled: bool = False,
        denials: DenialSink | None = None,
    ) -> Subject:
        """The subject for a principal and what is known about its user."""
        user_id = (
            principal.subject_id if principal.kind is PrincipalKind.USER else principal.user_id
        )
        return cls(
            principal=principal,
            user_id=user_id,
            platform_role=platform_role,
            email=email,
            disabled=disabled,
            denials=denials,
        )

    @property
    def tenant_id(self) -> UUID:
        return self.principal.tenant_id

    @property
    def scopes(self) -> frozenset[str] | None:
        if self.principal.kind is PrincipalKind.API_KEY:
            return self.principal.scopes
        return None

    @property
    def is_service_account(self) -> bool:
        """An operator's API key, made with the CLI for a tenant: it belongs to no user."""
        return self.principal.kind is PrincipalKind.API_KEY and self.user_id is None

    @property
    def sql_facts(self) -> tuple[object, ...]:
        """Everything a rule's SQL condition may read about the subject (``Condition.sql``
        uses nothing else), so a compiled list filter is reused for the same facts."""
        return (self.tenant_id, self.user_id, self.is_service_account, self.platform_role)
