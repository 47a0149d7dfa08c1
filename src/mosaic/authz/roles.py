"""Scope roles and where they come from: one ``RoleSource`` per level of the forest.

The tenant level reads ``tenant_memberships``. The legacy and story levels plug in their own
sources when their tables exist (``register``); callers never change, because they ask for
the effective role on a resource's whole scope chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    SQLColumnExpression,
    bindparam,
    false,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from mosaic.authz.resources import ScopeKind, ScopeRef
from mosaic.authz.subject import Subject
from mosaic.models import MembershipState, ScopeRole, TenantMembership

# Strongest first, as in seed 000: owner > editor > contributor > viewer.
_RANK = {ScopeRole.OWNER: 4, ScopeRole.EDITOR: 3, ScopeRole.CONTRIBUTOR: 2, ScopeRole.VIEWER: 1}


def at_least(role: ScopeRole) -> tuple[ScopeRole, ...]:
    """The roles as strong as ``role`` or stronger."""
    return tuple(candidate for candidate in ScopeRole if _RANK[candidate] >= _RANK[role])


# The tenant roles that flow down to every legacy and story of the tenant. A tenant's
# contributors and viewers belong to the community (they find legacies and ask to join), but
# seed 002 keeps a legacy's private stories for that legacy's members: below the tenant only
# a role granted at the legacy (or story) counts for them.
INHERITED_FROM_TENANT = frozenset({ScopeRole.OWNER, ScopeRole.EDITOR})


def inherits(grant: RoleGrant, *, below_tenant: bool) -> bool:
    """Whether ``grant`` applies to a resource (below its tenant or the tenant itself)."""
    return not (
        below_tenant
        and grant.scope.kind is ScopeKind.TENANT
        and grant.role not in INHERITED_FROM_TENANT
    )


def one_of(column: SQLColumnExpression[Any], values: Iterable[object]) -> ColumnElement[bool]:
    """SQL: ``column`` equals one of a few constant ``values``.

    Spelled as ORed equalities rather than ``IN``: an ``IN`` list is an expanding parameter,
    re-rendered into the SQL on every execution, and these filters run on every list request.
    """
    return or_(false(), *(column == value for value in values))


def strongest(roles: Iterable[ScopeRole]) -> ScopeRole | None:
    return max(roles, key=_RANK.__getitem__, default=None)


@dataclass(frozen=True)
class RoleGrant:
    """A role held at one scope, in a membership state (only active grants count)."""

    scope: ScopeRef
    role: ScopeRole
    state: MembershipState = MembershipState.ACTIVE


# A source's answer for one scope, as SQL: the (role, state) rows the subject holds there.
HeldRoles = Select[ScopeRole, MembershipState]


class RoleSource(Protocol):
    """The roles a subject holds at one level of the forest."""

    kind: ScopeKind

    def may_hold(self, *, subject: Subject, scope: ScopeRef) -> bool:
        """Whether the subject (a user) can hold a role at ``scope`` at all: when it cannot,
        nothing is asked of the database."""
        ...

    def held(self, *, user_id: ColumnElement[UUID], scope_id: ColumnElement[UUID]) -> HeldRoles:
        """SQL: the (role, state) rows ``user_id`` holds at the scope ``scope_id``, whatever
        the state. Both are bound parameters: the statement is built once per chain shape."""
        ...

    def granting(self, *, subject: Subject, roles: Sequence[ScopeRole]) -> Select[UUID]:
        """The ids of the scopes where the subject holds one of ``roles``, actively (SQL)."""
        ...


class TenantRoleSource:
    """Tenant roles from ``tenant_memberships``, only in the tenant the credential acts in."""

    kind = ScopeKind.TENANT

    def may_hold(self, *, subject: Subject, scope: ScopeRef) -> bool:
        return scope.id == subject.tenant_id

    def held(self, *, user_id: ColumnElement[UUID], scope_id: ColumnElement[UUID]) -> HeldRoles:
        return select(TenantMembership.role, TenantMembership.state).where(
            TenantMembership.tenant_id == scope_id, TenantMembership.user_id == user_id
        )

    def granting(self, *, subject: Subject, roles: Sequence[ScopeRole]) -> Select[UUID]:
        return select(TenantMembership.tenant_id).where(
            TenantMembership.tenant_id == subject.tenant_id,
            TenantMembership.user_id == subject.user_id,
            TenantMembership.state == MembershipState.ACTIVE,
            one_of(TenantMembership.role, roles),
        )


class RoleResolver:
    """Effective roles on a scope chain, from the sources registered per level."""

    def __init__(self, sources: Iterable[RoleSource]) -> None:
        self._sources = {source.kind: source for source in sources}
        # Bumped whenever the sources change: SQL compiled from the old ones is stale.
        self.generation = 0
        # The lookup statement per chain shape (the kinds looked up, in order).
        self._lookups: dict[tuple[ScopeKind, ...], CompoundSelect[Any]] = {}

    def register(self, source: RoleSource) -> None:
        """Plug in the roles of another level (legacies, stories) when their module exists."""
        self._sources[source.kind] = source
        self._changed()

    def unregister(self, kind: ScopeKind) -> None:
        self._sources.pop(kind, None)
        self._changed()

    def source(self, kind: ScopeKind) -> RoleSource | None:
        """The source registered for ``kind``, if any."""
        return self._sources.get(kind)

    def _changed(self) -> None:
        self.generation += 1
        self._lookups = {}

    async def grants(
        self, session: AsyncSession, *, subject: Subject, chain: Sequence[ScopeRef]
    ) -> tuple[RoleGrant, ...]:
        """Every grant the subject holds along ``chain``, memoised for the request; the
        scopes not known yet are looked up together, in one query."""
        missing = [scope for scope in chain if scope not in subject.memo.grants]
        if missing:
            subject.memo.grants.update(await self._lookup(session, subject, missing))
        return tuple(grant for scope in chain for grant in subject.memo.grants[scope])

    async def _lookup(
        self, session: AsyncSession, subject: Subject, scopes: Sequence[ScopeRef]
    ) -> dict[ScopeRef, tuple[RoleGrant, ...]]:
        found: dict[ScopeRef, tuple[RoleGrant, ...]] = dict.fromkeys(scopes, ())
        # An operator's key was made for its tenant by whoever runs the installation: it holds
        # the tenant as its owner would, and only its scopes narrow it.
        if subject.is_service_account:
            for scope in scopes:
                if scope.kind is ScopeKind.TENANT and scope.id == subject.tenant_id:
                    found[scope] = (RoleGrant(scope, ScopeRole.OWNER),)
            return found
        if subject.user_id is None:
            return found
        asked = [
            scope
            for scope in scopes
            if (source := self._sources.get(scope.kind)) is not None
            and source.may_hold(subject=subject, scope=scope)
        ]
        if not asked:
            return found
        parameters: dict[str, object] = {"user_id": subject.user_id}
        parameters.update((f"scope_{position}", scope.id) for position, scope in enumerate(asked))
        subject.memo.lookups += 1
        statement = self._lookup_statement(tuple(scope.kind for scope in asked))
        rows = (await session.execute(statement, parameters)).all()
        for role, state, position in rows:
            scope = asked[position]
            found[scope] = (
                *found[scope],
                RoleGrant(scope, ScopeRole(role), MembershipState(state)),
            )
        return found

    def _lookup_statement(self, kinds: tuple[ScopeKind, ...]) -> CompoundSelect[Any]:
        """One query for the roles at each scope of a chain of ``kinds``, built once: a
        statement built per request cost more than running it (its SQLAlchemy cache key)."""
        statement = self._lookups.get(kinds)
        if statement is None:
            user_id: BindParameter[UUID] = bindparam("user_id")
            statement = union_all(
                *(
                    self._sources[kind]
                    .held(user_id=user_id, scope_id=bindparam(f"scope_{position}"))
                    .add_columns(literal(position).label("scope_position"))
                    for position, kind in enumerate(kinds)
                )
            )
            self._lookups[kinds] = statement
        return statement

    def holds_sql(
        self,
        *,
        subject: Subject,
        role: ScopeRole,
        scope_columns: dict[ScopeKind, SQLColumnExpression[Any]],
    ) -> ColumnElement[bool]:
        """SQL: the subject holds ``role`` or stronger, actively, somewhere on the row's chain."""
        roles = at_least(role)
        if subject.is_service_account:
            tenant = scope_columns.get(ScopeKind.TENANT)
            return tenant == subject.tenant_id if tenant is not None else false()
        if subject.user_id is None:
            return false()
        below_tenant = len(scope_columns) > 1
        clauses = []
        for kind, column in scope_columns.items():
            granted = roles
            if below_tenant and kind is ScopeKind.TENANT:
                granted = tuple(r for r in roles if r in INHERITED_FROM_TENANT)
            if kind in self._sources and granted:
                clauses.append(
                    column.in_(self._sources[kind].granting(subject=subject, roles=granted))
                )
        return or_(*clauses) if clauses else false()

    def holds_at_tenant_sql(
        self, *, subject: Subject, role: ScopeRole, tenant_column: SQLColumnExpression[Any] | None
    ) -> ColumnElement[bool]:
        """SQL: the subject holds ``role`` or stronger, actively, at the row's tenant itself."""
        if tenant_column is None:
            return false()
        if subject.is_service_account:
            return tenant_column == subject.tenant_id
        if subject.user_id is None:
            return false()
        source = self._sources[ScopeKind.TENANT]
        return tenant_column.in_(source.granting(subject=subject, roles=at_least(role)))


def effective_role(grants: Iterable[RoleGrant], *, below_tenant: bool) -> ScopeRole | None:
    """The strongest active role among ``grants`` that applies to a resource: pending and
    suspended count for nothing, nor do a tenant's contributor and viewer roles below it."""
    return strongest(
        grant.role
        for grant in grants
        if grant.state is MembershipState.ACTIVE and inherits(grant, below_tenant=below_tenant)
    )


def tenant_role(grants: Iterable[RoleGrant]) -> ScopeRole | None:
    """The strongest active role held at the tenant itself."""
    return strongest(
        grant.role
        for grant in grants
        if grant.state is MembershipState.ACTIVE and grant.scope.kind is ScopeKind.TENANT
    )


resolver = RoleResolver([TenantRoleSource()])
