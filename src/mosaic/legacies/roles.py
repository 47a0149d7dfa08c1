"""Legacy-scope roles for the authorization forest, read from ``legacy_members``."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import ColumnElement, Select, select

from mosaic.authz import ScopeKind, ScopeRef, Subject
from mosaic.authz.roles import HeldRoles, one_of
from mosaic.models import LegacyMember, MembershipState, ScopeRole


class LegacyRoleSource:
    """A user's role in one legacy (pending requests included, as a non-active state)."""

    kind = ScopeKind.LEGACY

    def may_hold(self, *, subject: Subject, scope: ScopeRef) -> bool:
        return True  # any user of the tenant may be a member of any of its legacies

    def held(self, *, user_id: ColumnElement[UUID], scope_id: ColumnElement[UUID]) -> HeldRoles:
        return select(LegacyMember.role, LegacyMember.state).where(
            LegacyMember.legacy_id == scope_id, LegacyMember.user_id == user_id
        )

    def granting(self, *, subject: Subject, roles: Sequence[ScopeRole]) -> Select[UUID]:
        return select(LegacyMember.legacy_id).where(
            LegacyMember.user_id == subject.user_id,
            LegacyMember.state == MembershipState.ACTIVE,
            one_of(LegacyMember.role, roles),
        )
