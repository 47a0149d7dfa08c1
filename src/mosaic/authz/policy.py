"""The one entry point of authorization: ``authorize`` (raise) and ``can`` (ask).

Every service calls these with the request's subject, an action and a resource descriptor;
nothing else decides who may do what.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.authz.actions import Action
from mosaic.authz.errors import AccessDenied, MissingScope
from mosaic.authz.resources import Resource, ResourceKind
from mosaic.authz.roles import RoleGrant, effective_role, resolver, tenant_role
from mosaic.authz.rules import CROSS_TENANT, REQUIRED_SCOPES, Facts, rule_for
from mosaic.authz.subject import Subject
from mosaic.models import MembershipState

logger = structlog.get_logger(__name__)


class Reason(StrEnum):
    """Why a decision went the way it did; logged and audited with every denial."""

    GRANTED = "granted"
    ACCOUNT_DISABLED = "account_disabled"
    OTHER_TENANT = "other_tenant"
    MISSING_SCOPE = "missing_scope"
    MEMBERSHIP_PENDING = "membership_pending"
    MEMBERSHIP_SUSPENDED = "membership_suspended"
    NOT_A_MEMBER = "not_a_member"
    NOT_PERMITTED = "not_permitted"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: Reason
    details: dict[str, Any] = field(default_factory=dict)

    def error(self) -> AccessDenied:
        """The error a denial raises."""
        if self.reason is Reason.MISSING_SCOPE:
            return MissingScope(details=self.details)
        return AccessDenied(details={"reason": self.reason.value, **self.details})


async def decide(
    session: AsyncSession, subject: Subject, action: Action, resource: Resource
) -> Decision:
    """The decision for ``subject`` doing ``action`` to ``resource``, memoised per request."""
    memo_key = (action, resource)
    if memo_key not in subject.memo.decisions:
        subject.memo.decisions[memo_key] = await _decide(session, subject, action, resource)
    return subject.memo.decisions[memo_key]


async def _decide(
    session: AsyncSession, subject: Subject, action: Action, resource: Resource
) -> Decision:
    denied = precondition_failure(subject, action, resource.kind, tenant_id=resource.tenant_id)
    if denied is not None:
        return denied
    grants = await resolver.grants(session, subject=subject, chain=resource.chain)
    facts = Facts(
        subject=subject,
        role=effective_role(grants, below_tenant=resource.below_tenant),
        tenant_role=tenant_role(grants),
    )
    for grant in rule_for(resource.kind, action):
        if all(condition.holds(facts, resource) for condition in grant):
            return Decision(allowed=True, reason=Reason.GRANTED)
    return Decision(allowed=False, reason=_why_not(grants))


def precondition_failure(
    subject: Subject, action: Action, kind: ResourceKind, *, tenant_id: UUID | None
) -> Decision | None:
    """The denial that comes before any rule (account, tenant, scope), if there is one."""
    if subject.disabled:
        return Decision(allowed=False, reason=Reason.ACCOUNT_DISABLED)
    if (kind, action) not in CROSS_TENANT and tenant_id != subject.tenant_id:
        return Decision(allowed=False, reason=Reason.OTHER_TENANT)
    scopes = subject.scopes
    required = REQUIRED_SCOPES.get((kind, action))
    if scopes is not None and (required is None or required not in scopes):
        return Decision(
            allowed=False, reason=Reason.MISSING_SCOPE, details={"required_scope": required}
        )
    return None


def _why_not(grants: tuple[RoleGrant, ...]) -> Reason:
    states = {grant.state for grant in grants}
    if MembershipState.ACTIVE in states:
        return Reason.NOT_PERMITTED
    if MembershipState.SUSPENDED in states:
        return Reason.MEMBERSHIP_SUSPENDED
    if MembershipState.PENDING in states:
        return Reason.MEMBERSHIP_PENDING
    return Reason.NOT_A_MEMBER


async def can(session: AsyncSession, subject: Subject, action: Action, resource: Resource) -> bool:
    """Whether ``subject`` may do ``action`` to ``resource`` (asking is not a denial)."""
    return (await decide(session, subject, action, resource)).allowed


async def authorize(
    session: AsyncSession, subject: Subject, action: Action, resource: Resource
) -> None:
    """Raise ``AccessDenied`` (403) unless ``subject`` may do ``action`` to ``resource``."""
    decision = await decide(session, subject, action, resource)
    if not decision.allowed:
        await report_denial(subject, action, resource.describe(), decision)
        raise decision.error()


async def report_denial(subject: Subject, action: Action, target: str, decision: Decision) -> None:
    """Log a denial with its reason; audit it too when the action would have written."""
    logger.warning(
        "access_denied",
        action=action.value,
        resource=target,
        reason=decision.reason.value,
        principal=subject.principal.key,
        **decision.details,
    )
    if action.writes and subject.denials is not None:
        await subject.denials.record(subject, action, target, decision.reason.value)


async def authorize_kind(subject: Subject, action: Action, kind: ResourceKind) -> None:
    """Raise unless ``subject`` could ``action`` some ``kind`` in its tenant (account, scope).

    Called before loading a resource, so a key without the scope learns nothing about which
    ids exist; the rule for the loaded resource is still checked with ``authorize``.
    """
    denied = precondition_failure(subject, action, kind, tenant_id=subject.tenant_id)
    if denied is not None:
        await report_denial(subject, action, f"{kind.value}:*", denied)
        raise denied.error()
