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
from mosaic.authz.resources import Resource, ResourceKind, ScopeKind, Visibility
from mosaic.authz.roles import at_least, one_of, resolver
from mosaic.authz.rows import RowColumns
from mosaic.authz.subject import Subject
from mosaic.models import PlatformRole, ScopeRole


@dataclass(frozen=True)
class Facts:
    """What conditions may know about the subject besides itself: its role on the chain."""

    subject: Subject
    role: ScopeRole | None
    tenant_role: ScopeRole | None = None


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
class InTenant:
    """The subject holds ``role`` or a stronger one at the tenant itself (a community member,
    whatever their roles in its legacies)."""

    role: ScopeRole

    def holds(self, facts: Facts, resource: Resource) -> bool:
        return facts.tenant_role is not None and facts.tenant_role in at_least(self.role)

    def sql(self, subject: Subject, row: RowColumns) -> ColumnElement[bool]:
        return resolver.holds_at_tenant_sql(
            subject=subject, role=self.role, tenant_column=row.scopes.get(ScopeKind.TENANT)
        )


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
        return one_of(row.visibility, sorted(value.value for value in self.values))


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
class IsOpenLink:
    """The resource is addressed to nobody in particular (a link invitation)."""

    def holds(self, facts: Facts, resource: Resource) -> bool:
        return resource.addressee is None

    def sql(self, subject: Subject, row: RowColumns) -> ColumnElement[bool]:
        return false()  # nothing lists invitations by addressee


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
OPEN_LINK = IsOpenLink()
COMMUNITY = InTenant(ScopeRole.VIEWER)  # anyone who belongs to the tenant
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
    # Legacies are found by the whole community (seed 002: search, then ask to join); below the
    # tenant, only a tenant's owners and editors inherit (roles.INHERITED_FROM_TENANT).
    (K.LEGACY, A.LIST):                ((COMMUNITY,), (VIEWER,), (STAFF,)),
    (K.LEGACY, A.READ):                ((COMMUNITY,), (VIEWER,), (STAFF,)),
    (K.LEGACY, A.CREATE):              ((CONTRIBUTOR,), (ADMIN,)),
    (K.LEGACY, A.UPDATE):              ((EDITOR,), (ADMIN,)),
    (K.LEGACY, A.DELETE):              ((OWNER,), (ADMIN,)),
    (K.LEGACY, A.MANAGE_MEMBERS):      ((OWNER,), (ADMIN,)),
    # A legacy's members see each other; anyone sees their own membership (a pending request).
    (K.LEGACY_MEMBER, A.LIST):         ((VIEWER,), (OWN,), (STAFF,)),
    (K.LEGACY_MEMBER, A.READ):         ((VIEWER,), (OWN,), (STAFF,)),
    # Asking to join is the community's; approving, changing a role and removing the owner's.
    (K.LEGACY_MEMBER, A.CREATE):       ((COMMUNITY,),),
    (K.LEGACY_MEMBER, A.UPDATE):       ((OWNER,), (ADMIN,)),
    (K.LEGACY_MEMBER, A.DELETE):       ((OWNER,), (OWN,), (ADMIN,)),
    (K.LEGACY_INVITATION, A.LIST):     ((OWNER,), (ADMIN,)),
    (K.LEGACY_INVITATION, A.READ):     ((OWNER,), (ADMIN,)),
    (K.LEGACY_INVITATION, A.CREATE):   ((OWNER,), (ADMIN,)),
    (K.LEGACY_INVITATION, A.DELETE):   ((OWNER,), (ADMIN,)),
    (K.LEGACY_INVITATION, A.ACCEPT):   ((ADDRESSEE,), (OPEN_LINK, COMMUNITY)),
    # Seed 002: public for anyone, private for the legacy's members, personal for its author
    # while a member ("member sees public + private + own personal; non-member only public").
    (K.STORY, A.LIST):                 ((PUBLIC,), (PRIVATE, VIEWER), (PERSONAL, OWN, VIEWER),
                                        (SHARED, STAFF)),
    (K.STORY, A.READ):                 ((PUBLIC,), (PRIVATE, VIEWER), (PERSONAL, OWN, VIEWER),
                                        (SHARED, STAFF)),
    (K.STORY, A.CREATE):               ((OWN, CONTRIBUTOR),),
    # Seed 002: "Update story (author only)", "Delete story (author or creator)".
    (K.STORY, A.UPDATE):               ((OWN, CONTRIBUTOR),),
    (K.STORY, A.DELETE):               ((OWN, CONTRIBUTOR), (OWNER,), (ADMIN,)),
    # Moderators of a legacy's stories: platform staff, and the legacy's owners and editors (a
    # tenant's owners and editors inherit); a personal story is its author's alone.
    (K.STORY, A.MODERATE):             ((SHARED, STAFF), (SHARED, EDITOR)),
    # Anyone who can read a story may flag it (the service checks the read first); the queue is
    # the moderators'.
    (K.STORY_FLAG, A.CREATE):          ((COMMUNITY,), (VIEWER,)),
    (K.STORY_FLAG, A.LIST):            ((STAFF,), (EDITOR,)),
    (K.STORY_FLAG, A.READ):            ((STAFF,), (EDITOR,), (OWN,)),
    (K.STORY_FLAG, A.UPDATE):          ((STAFF,), (EDITOR,)),
    # Consent records name living people: the story's author and the legacy's editors see them;
    # the author and the legacy's owners record them.
    (K.CONSENT, A.LIST):               ((OWN,), (EDITOR,), (STAFF,)),
    (K.CONSENT, A.READ):               ((OWN,), (EDITOR,), (STAFF,)),
    (K.CONSENT, A.CREATE):             ((OWN, CONTRIBUTOR), (OWNER,), (ADMIN,)),
    (K.CONSENT, A.UPDATE):             ((OWN, CONTRIBUTOR), (OWNER,), (ADMIN,)),
    (K.CONSENT, A.DELETE):             ((OWN, CONTRIBUTOR), (OWNER,), (ADMIN,)),
    # A legacy's media are its members'; media without a legacy are their uploader's alone.
    (K.MEDIA, A.LIST):                 ((VIEWER,), (OWN,), (STAFF,)),
    (K.MEDIA, A.READ):                 ((VIEWER,), (OWN,), (STAFF,)),
    (K.MEDIA, A.CREATE):               ((OWN, CONTRIBUTOR),),
    (K.MEDIA, A.DELETE):               ((OWN,), (OWNER,), (ADMIN,)),
    # A user's own data: exported by them; erased by them or an administrator.
    (K.PERSONAL_DATA, A.READ):         ((OWN,), (ADMIN,)),
    (K.PERSONAL_DATA, A.DELETE):       ((OWN,), (ADMIN,)),
    # Dead letters span tenants (the event bus is the installation's): its administrators'.
    (K.DEAD_LETTER, A.LIST):           ((ADMIN,),),
    (K.DEAD_LETTER, A.READ):           ((ADMIN,),),
    (K.DEAD_LETTER, A.UPDATE):         ((ADMIN,),),
    (K.DEAD_LETTER, A.DELETE):         ((ADMIN,),),
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
    **{(K.LEGACY_MEMBER, action): "legacies:read" for action in _READS},
    **{(K.LEGACY_MEMBER, action): "legacies:write" for action in _WRITES},
    **{(K.LEGACY_INVITATION, action): "legacies:write" for action in (*_READS, *_WRITES)},
    (K.LEGACY_INVITATION, A.ACCEPT): "invitations:accept",
    **{(K.STORY_FLAG, action): "stories:moderate" for action in (*_READS, A.UPDATE)},
    (K.STORY_FLAG, A.CREATE): "stories:read",
    **{(K.CONSENT, action): "stories:read" for action in _READS},
    **{(K.CONSENT, action): "stories:write" for action in _WRITES},
    **{(K.MEDIA, action): "media:read" for action in _READS},
    **{(K.MEDIA, action): "media:write" for action in _WRITES},
    (K.PERSONAL_DATA, A.READ): "account:export",
    (K.PERSONAL_DATA, A.DELETE): "account:erase",
    **{(K.DEAD_LETTER, action): "events:admin" for action in (*_READS, A.UPDATE, A.DELETE)},
}

# Every scope an API key may be given.
KNOWN_SCOPES = frozenset(REQUIRED_SCOPES.values())

# Decisions that look past the credential's tenant: accepting an invitation is how a user joins
# another tenant, and the audit log is installation-wide (its rows name their tenant, and the
# owner's role is checked in that tenant).
CROSS_TENANT: frozenset[tuple[ResourceKind, Action]] = frozenset(
    {
        (K.INVITATION, A.ACCEPT),
        (K.AUDIT_EVENT, A.LIST),
        (K.AUDIT_EVENT, A.READ),
        *((K.DEAD_LETTER, action) for action in (A.LIST, A.READ, A.UPDATE, A.DELETE)),
    }
)


def rule_for(kind: ResourceKind, action: Action) -> tuple[Grant, ...]:
    """The grants for ``(kind, action)``; none (always denied) for a pair not in the table."""
    return RULES.get((kind, action), ())
