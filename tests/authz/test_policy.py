"""The policy, table-driven: who may do what to which resource, in every role and state.

The expectations are written out by hand, not derived from the rule table, so a change to the
table that changes a decision fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.authz import (
    Action,
    ApiKeyResource,
    AuditEventResource,
    DeadLetterResource,
    InvitationResource,
    LegacyResource,
    MembershipResource,
    Reason,
    StoryResource,
    TenantResource,
    Visibility,
    can,
    decide,
)
from mosaic.authz.resources import Resource
from tests.authz.conftest import World

EVERYONE = frozenset(
    {
        "owner",
        "editor",
        "contributor",
        "viewer",
        "pending",
        "suspended",
        "outsider",
        "admin",
        "moderator",
        "disabled",
        "service",
    }
)
MEMBERS = frozenset({"owner", "editor", "contributor", "viewer"})
WRITERS = frozenset({"owner", "editor", "contributor"})
# The tenant roles that hold in every legacy of the tenant (roles.INHERITED_FROM_TENANT).
INHERITING = frozenset({"owner", "editor"})
NOBODY: frozenset[str] = frozenset()
ResourceFor = Callable[[World, UUID | None], Resource]


def _allowed_names(expected: frozenset[str]) -> list[tuple[str, bool]]:
    return [(name, name in expected) for name in sorted(EVERYONE)]


async def _check(
    session: AsyncSession,
    world: World,
    action: Action,
    resource_for: ResourceFor,
    expected: frozenset[str],
) -> None:
    mismatches = []
    for name, allowed in _allowed_names(expected):
        subject = world.subject(name)
        resource = resource_for(world, subject.user_id)
        decision = await decide(session, subject, action, resource)
        if decision.allowed is not allowed:
            mismatches.append(f"{name}: expected {allowed}, got {decision}")
    assert mismatches == []


def _story(visibility: Visibility, *, by_self: bool) -> ResourceFor:
    def build(world: World, user_id: UUID | None) -> StoryResource:
        author = user_id if by_self else UUID(int=7)
        return StoryResource(
            tenant_id=world.tenant_id,
            legacy_id=UUID(int=1),
            author_id=author,
            story_visibility=visibility,
            story_id=UUID(int=2),
        )

    return build


P, R, X = Visibility.PUBLIC, Visibility.PRIVATE, Visibility.PERSONAL
STAFF = frozenset({"admin", "moderator"})
READERS = EVERYONE - {"disabled"}

# (action, visibility, written by the subject?) -> who may
STORY_MATRIX: list[tuple[Action, Visibility, bool, frozenset[str]]] = [
    (Action.READ, P, False, READERS),
    # Nobody here holds a role in the story's legacy: below the tenant only a tenant's owners
    # and editors inherit, so its contributors and viewers are not the legacy's members.
    (Action.READ, R, False, INHERITING | STAFF | {"service"}),
    (Action.READ, X, False, NOBODY),
    # Seed 002: a personal story is its author's while they are a member of the legacy.
    (Action.READ, X, True, INHERITING),
    (Action.LIST, R, False, INHERITING | STAFF | {"service"}),
    # Seed 002: "Update story (author only)".
    (Action.UPDATE, P, False, NOBODY),
    (Action.UPDATE, R, False, NOBODY),
    (Action.UPDATE, X, False, NOBODY),
    (Action.UPDATE, X, True, INHERITING),
    (Action.UPDATE, R, True, INHERITING),
    (Action.DELETE, R, False, frozenset({"owner", "admin", "service"})),
    (Action.DELETE, X, False, frozenset({"owner", "admin", "service"})),
    (Action.DELETE, X, True, INHERITING | frozenset({"admin", "service"})),
    (Action.MODERATE, P, False, STAFF | INHERITING | {"service"}),
    (Action.MODERATE, X, False, NOBODY),
    (Action.CREATE, R, True, INHERITING),
    (Action.CREATE, R, False, NOBODY),
]


@pytest.mark.parametrize(
    ("action", "visibility", "by_self", "expected"),
    STORY_MATRIX,
    ids=[f"{a.value}-{v.value}-{'own' if s else 'other'}" for a, v, s, _ in STORY_MATRIX],
)
async def test_stories(
    tenant_session: AsyncSession,
    world: World,
    action: Action,
    visibility: Visibility,
    by_self: bool,
    expected: frozenset[str],
) -> None:
    await _check(tenant_session, world, action, _story(visibility, by_self=by_self), expected)


def _tenant(world: World, _: UUID | None) -> Resource:
    return TenantResource(world.tenant_id)


def _own_membership(world: World, user_id: UUID | None) -> Resource:
    return MembershipResource(world.tenant_id, user_id)


def _someone_elses_membership(world: World, _: UUID | None) -> Resource:
    return MembershipResource(world.tenant_id, UUID(int=9))


def _own_key(world: World, user_id: UUID | None) -> Resource:
    return ApiKeyResource(world.tenant_id, UUID(int=3), created_by=user_id)


def _someone_elses_key(world: World, _: UUID | None) -> Resource:
    return ApiKeyResource(world.tenant_id, UUID(int=3), created_by=UUID(int=9))


def _invitation(world: World, _: UUID | None) -> Resource:
    return InvitationResource(world.tenant_id, UUID(int=4), email="someone@example.test")


def _audit_event(world: World, _: UUID | None) -> Resource:
    return AuditEventResource(world.tenant_id, UUID(int=5))


def _other_tenants_audit_event(world: World, _: UUID | None) -> Resource:
    return AuditEventResource(world.other_tenant_id, UUID(int=5))


def _dead_letter(world: World, _: UUID | None) -> Resource:
    return DeadLetterResource(dead_letter_id=6)


def _new_legacy(world: World, _: UUID | None) -> Resource:
    return LegacyResource(world.tenant_id)


# Keys without a user (service) act as the tenant's owner, narrowed by scopes only.
OWNERS = frozenset({"owner", "service"})
ADMINS = frozenset({"admin"})
PLATFORM_MATRIX = [
    ("tenant-read", Action.READ, _tenant, MEMBERS | OWNERS | ADMINS),
    ("tenant-update", Action.UPDATE, _tenant, OWNERS | ADMINS),
    ("members-list", Action.LIST, _someone_elses_membership, MEMBERS | OWNERS | ADMINS),
    ("own-membership-read", Action.READ, _own_membership, READERS),
    ("member-role-change", Action.UPDATE, _someone_elses_membership, OWNERS | ADMINS),
    ("own-role-change", Action.UPDATE, _own_membership, OWNERS | ADMINS),
    ("member-remove", Action.DELETE, _someone_elses_membership, OWNERS | ADMINS),
    ("leave", Action.DELETE, _own_membership, READERS),
    ("invitation-create", Action.CREATE, _invitation, OWNERS | ADMINS),
    ("invitation-revoke", Action.DELETE, _invitation, OWNERS | ADMINS),
    ("invitation-list", Action.LIST, _invitation, OWNERS | ADMINS),
    ("key-create", Action.CREATE, _someone_elses_key, {"owner", "editor", "service", "admin"}),
    ("key-list-others", Action.LIST, _someone_elses_key, {"owner", "editor", "service", "admin"}),
    (
        "key-revoke-others",
        Action.DELETE,
        _someone_elses_key,
        {"owner", "editor", "service", "admin"},
    ),
    ("key-revoke-own", Action.DELETE, _own_key, READERS),
    ("audit-read", Action.LIST, _audit_event, OWNERS | ADMINS),
    ("audit-other-tenant", Action.LIST, _other_tenants_audit_event, ADMINS),
    ("legacy-create", Action.CREATE, _new_legacy, WRITERS | {"service", "admin"}),
    ("dead-letter-list", Action.LIST, _dead_letter, ADMINS),
    ("dead-letter-read", Action.READ, _dead_letter, ADMINS),
    ("dead-letter-replay", Action.UPDATE, _dead_letter, ADMINS),
    ("dead-letter-discard", Action.DELETE, _dead_letter, ADMINS),
]


@pytest.mark.parametrize(
    ("resource_for", "action", "expected"),
    [(build, action, expected) for _, action, build, expected in PLATFORM_MATRIX],
    ids=[name for name, *_ in PLATFORM_MATRIX],
)
async def test_platform_resources(
    tenant_session: AsyncSession,
    world: World,
    resource_for: ResourceFor,
    action: Action,
    expected: frozenset[str],
) -> None:
    await _check(tenant_session, world, action, resource_for, expected)


# Reasons and preconditions


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("pending", Reason.MEMBERSHIP_PENDING),
        ("suspended", Reason.MEMBERSHIP_SUSPENDED),
        ("outsider", Reason.NOT_A_MEMBER),
        ("viewer", Reason.NOT_PERMITTED),
        ("disabled", Reason.ACCOUNT_DISABLED),
    ],
)
async def test_a_denial_says_why(
    tenant_session: AsyncSession, world: World, name: str, reason: Reason
) -> None:
    decision = await decide(
        tenant_session, world.subject(name), Action.UPDATE, TenantResource(world.tenant_id)
    )

    assert (decision.allowed, decision.reason) == (False, reason)


async def test_a_resource_of_another_tenant_is_denied_even_to_its_owner(
    tenant_session: AsyncSession, world: World
) -> None:
    # The outsider owns the other tenant, but their credential acts in this one.
    decision = await decide(
        tenant_session,
        world.subject("outsider"),
        Action.READ,
        TenantResource(world.other_tenant_id),
    )

    assert decision.reason is Reason.OTHER_TENANT


async def test_an_api_key_is_narrowed_by_its_scopes_even_for_an_owner(
    tenant_session: AsyncSession, world: World
) -> None:
    subject = world.subject("owner", scopes=frozenset({"tenant:read"}))

    decision = await decide(tenant_session, subject, Action.UPDATE, TenantResource(world.tenant_id))

    assert decision.reason is Reason.MISSING_SCOPE
    assert decision.details == {"required_scope": "tenant:write"}
    assert await can(tenant_session, subject, Action.READ, TenantResource(world.tenant_id))


async def test_a_scope_does_not_widen_a_role(tenant_session: AsyncSession, world: World) -> None:
    subject = world.subject("viewer", scopes=frozenset({"tenant:write"}))

    assert not await can(tenant_session, subject, Action.UPDATE, TenantResource(world.tenant_id))


async def test_a_login_is_not_narrowed_by_scopes(
    tenant_session: AsyncSession, world: World
) -> None:
    subject = world.subject("owner", scopes=None)

    assert await can(tenant_session, subject, Action.UPDATE, TenantResource(world.tenant_id))


async def test_a_service_key_without_the_scope_is_denied(
    tenant_session: AsyncSession, world: World
) -> None:
    subject = world.subject("service", scopes=frozenset({"tenant:read"}))

    decision = await decide(tenant_session, subject, Action.CREATE, ApiKeyResource(world.tenant_id))

    assert decision.reason is Reason.MISSING_SCOPE


@pytest.mark.parametrize(
    ("email_of", "allowed"), [("self", True), ("SELF", True), ("someone else", False)]
)
async def test_an_invitation_is_accepted_by_its_addressee_in_any_tenant(
    tenant_session: AsyncSession, world: World, email_of: str, allowed: bool
) -> None:
    subject = world.subject("outsider")
    assert subject.email is not None
    email = {"self": subject.email, "SELF": f"  {subject.email.upper()} "}.get(
        email_of, "someone@example.test"
    )
    # An invitation to the other tenant: accepting one is how a user crosses tenants.
    invitation = InvitationResource(world.other_tenant_id, UUID(int=4), email=email)

    assert await can(tenant_session, subject, Action.ACCEPT, invitation) is allowed
