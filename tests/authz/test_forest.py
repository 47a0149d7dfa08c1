"""The forest and the SQL filter: roles flow from tenant to legacy to story, and a list query's
filter agrees with ``authorize`` on every row.

Legacies and stories have no tables yet, so a test-only legacy role source and story table
(created inside a rolled-back transaction) stand in for them; plugging that source in is how
the legacies module will add its grants.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from uuid import UUID

import pytest
from sqlalchemy import (
    Column,
    ColumnElement,
    MetaData,
    Select,
    String,
    Table,
    Uuid,
    insert,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mosaic.authz import (
    AccessDenied,
    Action,
    RowColumns,
    ScopeKind,
    ScopeRef,
    StoryResource,
    Subject,
    Visibility,
    can,
    decide,
    read_filter,
)
from mosaic.authz.resources import ResourceKind
from mosaic.authz.roles import HeldRoles, resolver
from mosaic.core.database import bind_tenant
from mosaic.core.ids import new_id
from mosaic.core.settings import DatabaseSettings
from mosaic.models import MembershipState, ScopeRole
from tests.authz.conftest import World
from tests.authz.test_policy import EVERYONE

probe = MetaData()
legacy_grants = Table(
    "authz_probe_legacy_grants",
    probe,
    Column("legacy_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("role", String(32), nullable=False),
    Column("state", String(32), nullable=False),
)
stories = Table(
    "authz_probe_stories",
    probe,
    Column("id", Uuid, primary_key=True),
    Column("tenant_id", Uuid, nullable=False),
    Column("legacy_id", Uuid, nullable=False),
    Column("author_id", Uuid),
    Column("visibility", String(16), nullable=False),
)
STORY_ROWS = RowColumns(
    kind=ResourceKind.STORY,
    scopes={
        ScopeKind.TENANT: stories.c.tenant_id,
        ScopeKind.LEGACY: stories.c.legacy_id,
        ScopeKind.STORY: stories.c.id,
    },
    owner=stories.c.author_id,
    visibility=stories.c.visibility,
)


class ProbeLegacyRoles:
    """Legacy roles from the probe table: what the legacies module will provide for real."""

    kind = ScopeKind.LEGACY

    def may_hold(self, *, subject: Subject, scope: ScopeRef) -> bool:
        return True

    def held(self, *, user_id: ColumnElement[UUID], scope_id: ColumnElement[UUID]) -> HeldRoles:
        return select(legacy_grants.c.role, legacy_grants.c.state).where(
            legacy_grants.c.legacy_id == scope_id, legacy_grants.c.user_id == user_id
        )

    def granting(self, *, subject: Subject, roles: Sequence[ScopeRole]) -> Select[UUID]:
        return select(legacy_grants.c.legacy_id).where(
            legacy_grants.c.user_id == subject.user_id,
            legacy_grants.c.state == MembershipState.ACTIVE.value,
            legacy_grants.c.role.in_([role.value for role in roles]),
        )


LEGACY_ONE, LEGACY_TWO = UUID(int=101), UUID(int=102)
# (person, legacy, role, state): grants below the tenant.
GRANTS = [
    ("viewer", LEGACY_ONE, ScopeRole.EDITOR, MembershipState.ACTIVE),
    ("outsider", LEGACY_ONE, ScopeRole.CONTRIBUTOR, MembershipState.ACTIVE),
    ("contributor", LEGACY_TWO, ScopeRole.OWNER, MembershipState.PENDING),
    ("pending", LEGACY_TWO, ScopeRole.VIEWER, MembershipState.ACTIVE),
]


@pytest.fixture
async def forest(
    owner_engine: AsyncEngine, world: World, database_settings: DatabaseSettings
) -> AsyncIterator[AsyncSession]:
    """The probe tables with grants and stories, read as the application role; rolled back.
    The probe's legacy roles stand in for the real ones meanwhile."""
    real = resolver.source(ScopeKind.LEGACY)
    resolver.register(ProbeLegacyRoles())
    async with owner_engine.connect() as connection:
        transaction = await connection.begin()
        await connection.run_sync(probe.create_all)
        for table in probe.tables:
            await connection.execute(
                text(f"GRANT SELECT ON {table} TO {database_settings.app_role}")
            )
        for person, legacy, role, state in GRANTS:
            await connection.execute(
                insert(legacy_grants).values(
                    legacy_id=legacy, user_id=world.users[person], role=role, state=state
                )
            )
        authors = [*(world.users[name] for name in ("owner", "viewer", "outsider")), None]
        for legacy, visibility, author in itertools.product(
            (LEGACY_ONE, LEGACY_TWO), Visibility, authors
        ):
            await connection.execute(
                insert(stories).values(
                    id=new_id(),
                    tenant_id=world.tenant_id,
                    legacy_id=legacy,
                    author_id=author,
                    visibility=visibility.value,
                )
            )
        # A story of another tenant: never visible, whatever the grants.
        await connection.execute(
            insert(stories).values(
                id=new_id(),
                tenant_id=world.other_tenant_id,
                legacy_id=LEGACY_ONE,
                author_id=world.users["outsider"],
                visibility=Visibility.PUBLIC.value,
            )
        )
        await connection.execute(text(f"SET LOCAL ROLE {database_settings.app_role}"))
        session = AsyncSession(bind=connection)
        await bind_tenant(session, world.tenant_id)
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()
            if real is None:
                resolver.unregister(ScopeKind.LEGACY)
            else:
                resolver.register(real)


def _story(row: object) -> StoryResource:
    return StoryResource(
        tenant_id=row.tenant_id,  # type: ignore[attr-defined]
        legacy_id=row.legacy_id,  # type: ignore[attr-defined]
        author_id=row.author_id,  # type: ignore[attr-defined]
        story_visibility=Visibility(row.visibility),  # type: ignore[attr-defined]
        story_id=row.id,  # type: ignore[attr-defined]
    )


async def test_a_legacy_role_applies_to_its_stories_only(
    forest: AsyncSession, world: World
) -> None:
    viewer = world.subject("viewer")

    def private(legacy: UUID) -> StoryResource:
        return StoryResource(world.tenant_id, legacy, UUID(int=7), Visibility.PRIVATE, UUID(int=8))

    assert await can(forest, viewer, Action.MODERATE, private(LEGACY_ONE))
    assert not await can(forest, viewer, Action.MODERATE, private(LEGACY_TWO))


async def test_the_strongest_role_on_the_chain_wins(forest: AsyncSession, world: World) -> None:
    # The contributor holds a pending legacy owner grant: pending counts for nothing.
    contributor = world.subject("contributor")
    story = StoryResource(world.tenant_id, LEGACY_TWO, UUID(int=7), Visibility.PRIVATE)

    decision = await decide(forest, contributor, Action.DELETE, story)

    assert decision.allowed is False


async def test_a_legacy_grant_lets_a_non_member_of_the_tenant_into_that_legacy(
    forest: AsyncSession, world: World
) -> None:
    outsider = world.subject("outsider")
    private = StoryResource(world.tenant_id, LEGACY_ONE, UUID(int=7), Visibility.PRIVATE)

    assert await can(forest, outsider, Action.READ, private)
    assert not await can(
        forest,
        outsider,
        Action.READ,
        private.__class__(world.tenant_id, LEGACY_TWO, UUID(int=7), Visibility.PRIVATE),
    )


@pytest.mark.parametrize("action", [Action.LIST, Action.UPDATE, Action.DELETE, Action.MODERATE])
@pytest.mark.parametrize("name", sorted(EVERYONE))
async def test_the_sql_filter_agrees_with_authorize_on_every_row(
    forest: AsyncSession, world: World, name: str, action: Action
) -> None:
    rows = (await forest.execute(select(stories))).all()
    subject = world.subject(name)
    by_authorize = {row.id for row in rows if await can(forest, subject, action, _story(row))}

    try:
        condition = await read_filter(subject, STORY_ROWS, action=action)
    except AccessDenied:
        assert by_authorize == set()
        return
    by_sql = set((await forest.execute(select(stories.c.id).where(condition))).scalars())

    assert by_sql == by_authorize
    assert len(rows) == 25  # the matrix really was there to filter


async def test_the_roles_along_a_chain_are_looked_up_in_one_query(
    forest: AsyncSession, world: World
) -> None:
    # "viewer" is the tenant's viewer and an editor of legacy one: a grant at each level.
    viewer = world.subject("viewer")
    story = StoryResource(world.tenant_id, LEGACY_ONE, UUID(int=7), Visibility.PRIVATE)

    grants = await resolver.grants(forest, subject=viewer, chain=story.chain)

    assert {(grant.scope.kind, grant.role) for grant in grants} == {
        (ScopeKind.TENANT, ScopeRole.VIEWER),
        (ScopeKind.LEGACY, ScopeRole.EDITOR),
    }
    assert viewer.memo.lookups == 1
