"""The rule table: for each resource kind and action, the grants that allow it.

A rule is a list of grants; a grant is a list of conditions. The action is allowed when every
condition of at least one grant holds. Each condition can be checked against a resource in
Python (``authorize``) and compiled against a table's columns in SQL (``read_filter``), so a
list query and a single read can never disagree.

Before any rule, three preconditions (``policy.decide``): the user's account is enabled, the
resource is in the tenant the credential acts in (except the kinds in ``CROSS_TENANT``), and
an API key carries the scope in ``REQUIRED_SCOPES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement, false, true

from mosaic.authz.actions import Action
from mosaic.authz.resources import Resource, ResourceKind, Visibility
from mosaic.authz.roles import at_least, resolver
from mosaic.authz.rows import RowColumns
from mosaic.authz.subject import Subject
from mosaic.models import PlatformRole, ScopeRole


@dataclass(frozen=True)
class Facts:
    """What conditions may know about the subject besides itself: its role on the chain."""

    subject: Subject
    role: ScopeRole | None


class Condition(Protocol):
    def holds(self, facts: Facts, resource: Resource) -> bool:
        """Whether the condition holds for this resource."""
        ...

    def sql(self, subject: Subject, row: RowColumns) -> ColumnElement[bool]:
        """The same condition over a table's rows."""
        ...


@dataclass(frozen=True)
class HasRole:
    """The subject holds ``role`` or a stronger one, actively, somewhere on the chain."""

    role: ScopeRole

    def holds(self, facts: Facts, resource: Resource) -> bool:
        return facts.role is not None and facts.role in at_least(self.role)

    def sql(self, subject: Subject, row: RowColumns) -> ColumnElement[bool]:
        return resolver.holds_sql(subject=subject, role=self.role, scope_columns=row.scopes)


@dataclass(frozen=True)
class HasPlatformRole:
    roles: frozenset[PlatformRole]

    def holds(self, facts: Facts, resource: Resource) -> bool:
        return facts.subject.platform_role in self.roles

    def sql(self, subject: Subject, row: RowColumns) -> ColumnElement[bool]:
        return true() if subject.platform_role in self.roles else false()


@dataclass(frozen=True)
class HasVisibility:
    values: frozenset[Visibility]

    def holds(self, facts: Facts, resource: Resource) -> bool:
        return resource.visibility in self.values

    def sql(self, subject: Subject, row: RowColumns) -> ColumnElement[bool]:
        if row.visibility is None:
            return false()
        return row.visibility.in_(sorted(value.value for value in self.values))


@dataclass(frozen=True)
class Owns:
    """The resource is the subject's: its author, its creator, the member themselves."""

    def holds(self, facts: Facts, resource: Resource) -> bool:
        return facts.subject.user_id is not None and resource.owner_id == facts.subject.user_id

    def sql(self, subject: Subject, row: RowColumns) -> ColumnElement[bool]:
        if row.owner is None or subject.user_id is None:
            return false()
        return row.owner == subject.user_id


@dataclass(frozen=True)
class IsAddressee:
    """The resource is addressed to the subject's email (an invitation)."""

    def holds(self, facts: Facts, resource: Resource) -> bool:
        email, addressee = facts.subject.email, resource.addressee
        return bool(email and addressee) and _normal(email) == _normal(addressee)

    def sql(self, subject: Subject, row: RowColumns) -> ColumnElement[bool]:
        return false()  # nothing lists invitations by addressee


def _normal(email: str | None) -> str:
    return (email or "").strip().lower()


Grant = tuple[Condition, ...]

OWNER, EDITOR, CONTRIBUTOR, VIEWER = (HasRole(role) for role in ScopeRole)
ADMIN = HasPlatformRole(frozenset({PlatformRole.ADMIN}))
STAFF = HasPlatformRole(frozenset({PlatformRole.ADMIN, PlatformRole.MODERATOR}))
OWN = Owns()
ADDRESSEE = IsAddressee()
PUBLIC = HasVisibility(frozenset({Visibility.PUBLIC}))
PRIVATE = HasVisibility(frozenset({Visibility.PRIVATE}))
PERSONAL = HasVisibility(frozenset({Visibility.PERSONAL}))
SHARED = HasVisibility(frozenset({Visibility.PUBLIC, Visibility.PRIVATE}))

K, A = ResourceKind, Action

# (resource kind, action): any of these grants, each granting when all its conditions hold.
RULES: dict[tuple[ResourceKind, Action], tuple[Grant, ...]] = {
    (K.TENANT, A.READ):                ((VIEWER,), (ADMIN,)),
    (K.TENANT, A.UPDATE):              ((OWNER,), (ADMIN,)),
    (K.TENANT, A.MANAGE_MEMBERS):      ((OWNER,), (ADMIN,)),
    # Members see each other; anyone sees their own membership, even a pending one.
    (K.MEMBERSHIP, A.LIST):            ((VIEWER,), (OWN,), (ADMIN,)),
    (K.MEMBERSHIP, A.READ):            ((VIEWER,), (OWN,), (ADMIN,)),
    (K.MEMBERSHIP, A.UPDATE):          ((OWNER,), (ADMIN,)),
    # Removing someone is the owner's; leaving is anyone's own.
    (K.MEMBERSHIP, A.DELETE):          ((OWNER,), (OWN,), (ADMIN,)),
    (K.INVITATION, A.LIST):            ((OWNER,), (ADMIN,)),
    (K.INVITATION, A.READ):            ((OWNER,), (ADMIN,)),
    (K.INVITATION, A.CREATE):          ((OWNER,), (ADMIN,)),
    (K.INVITATION, A.DELETE):          ((OWNER,), (ADMIN,)),
    (K.INVITATION, A.ACCEPT):          ((ADDRESSEE,),),
    # Owners and editors manage the tenant's keys; anyone sees and revokes the keys they made.
    (K.API_KEY, A.LIST):               ((EDITOR,), (OWN,), (ADMIN,)),
    (K.API_KEY, A.READ):               ((EDITOR,), (OWN,), (ADMIN,)),
    (K.API_KEY, A.CREATE):             ((EDITOR,), (ADMIN,)),
    (K.API_KEY, A.DELETE):             ((EDITOR,), (OWN,), (ADMIN,)),
    (K.AUDIT_EVENT, A.LIST):           ((OWNER,), (ADMIN,)),
    (K.AUDIT_EVENT, A.READ):           ((OWNER,), (ADMIN,)),
    (K.LEGACY, A.LIST):                ((VIEWER,), (STAFF,)),
    (K.LEGACY, A.READ):                ((VIEWER,), (STAFF,)),
    (K.LEGACY, A.CREATE):              ((CONTRIBUTOR,), (ADMIN,)),
    (K.LEGACY, A.UPDATE):              ((EDITOR,), (ADMIN,)),
    (K.LEGACY, A.DELETE):              ((OWNER,), (ADMIN,)),
    (K.LEGACY, A.MANAGE_MEMBERS):      ((OWNER,), (ADMIN,)),
    # Seed 002: public for anyone, private for members, personal for its author alone.
    (K.STORY, A.LIST):                 ((PUBLIC,), (PRIVATE, VIEWER), (PERSONAL, OWN, VIEWER),
                                        (SHARED, STAFF)),
    (K.STORY, A.READ):                 ((PUBLIC,), (PRIVATE, VIEWER), (PERSONAL, OWN, VIEWER),
                                        (SHARED, STAFF)),
    (K.STORY, A.CREATE):               ((OWN, CONTRIBUTOR),),
    (K.STORY, A.UPDATE):               ((OWN, CONTRIBUTOR), (SHARED, EDITOR)),
    (K.STORY, A.DELETE):               ((OWN, CONTRIBUTOR), (OWNER,), (ADMIN,)),
    (K.STORY, A.MODERATE):             ((SHARED, STAFF),),
}  # fmt: skip

# What an API key must carry for each (kind, action); a user's key also needs the user's role.
_READS, _WRITES = (A.READ, A.LIST), (A.CREATE, A.UPDATE, A.DELETE, A.MANAGE_MEMBERS)
REQUIRED_SCOPES: dict[tuple[ResourceKind, Action], str] = {
    **{(K.TENANT, action): "tenant:read" for action in _READS},
    **{(K.TENANT, action): "tenant:write" for action in _WRITES},
    **{(K.MEMBERSHIP, action): "members:read" for action in _READS},
    **{(K.MEMBERSHIP, action): "members:write" for action in _WRITES},
    **{(K.INVITATION, action): "invitations:read" for action in _READS},
    **{(K.INVITATION, action): "invitations:write" for action in _WRITES},
    (K.INVITATION, A.ACCEPT): "invitations:accept",
    **{(K.API_KEY, action): "api-keys:read" for action in _READS},
    **{(K.API_KEY, action): "api-keys:write" for action in _WRITES},
    **{(K.AUDIT_EVENT, action): "audit:read" for action in _READS},
    **{(K.LEGACY, action): "legacies:read" for action in _READS},
    **{(K.LEGACY, action): "legacies:write" for action in _WRITES},
    **{(K.STORY, action): "stories:read" for action in _READS},
    **{(K.STORY, action): "stories:write" for action in _WRITES},
    (K.STORY, A.MODERATE): "stories:moderate",
}

# Every scope an API key may be given.
KNOWN_SCOPES = frozenset(REQUIRED_SCOPES.values())

# Decisions that look past the credential's tenant: accepting an invitation is how a user joins
# another tenant, and the audit log is installation-wide (its rows name their tenant, and the
# owner's role is checked in that tenant).
CROSS_TENANT: frozenset[tuple[ResourceKind, Action]] = frozenset(
    {(K.INVITATION, A.ACCEPT), (K.AUDIT_EVENT, A.LIST), (K.AUDIT_EVENT, A.READ)}
)


def rule_for(kind: ResourceKind, action: Action) -> tuple[Grant, ...]:
    """The grants for ``(kind, action)``; none (always denied) for a pair not in the table."""
    return RULES.get((kind, action), ())
