"""Fixtures for the policy: a tenant with a user in every role and state, and subjects for them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from uuid import UUID, uuid4

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mosaic.authz import Subject
from mosaic.authz.rules import KNOWN_SCOPES
from mosaic.core.database import DatabaseLocation, bind_tenant, create_engine, create_sessionmaker
from mosaic.core.ids import new_id
from mosaic.core.principal import Credential, Principal, PrincipalKind
from mosaic.core.settings import DatabaseSettings
from mosaic.models import (
    MembershipState,
    PlatformRole,
    ScopeRole,
    TenantMembership,
    User,
    UserStatus,
)
from tests.conftest import TenantFactory

Sessions = async_sessionmaker[AsyncSession]

# name: (tenant role, membership state, platform role, account disabled)
PEOPLE: dict[str, tuple[ScopeRole | None, MembershipState, PlatformRole, bool]] = {
    "owner": (ScopeRole.OWNER, MembershipState.ACTIVE, PlatformRole.USER, False),
    "editor": (ScopeRole.EDITOR, MembershipState.ACTIVE, PlatformRole.USER, False),
    "contributor": (ScopeRole.CONTRIBUTOR, MembershipState.ACTIVE, PlatformRole.USER, False),
    "viewer": (ScopeRole.VIEWER, MembershipState.ACTIVE, PlatformRole.USER, False),
    "pending": (ScopeRole.EDITOR, MembershipState.PENDING, PlatformRole.USER, False),
    "suspended": (ScopeRole.OWNER, MembershipState.SUSPENDED, PlatformRole.USER, False),
    "outsider": (None, MembershipState.ACTIVE, PlatformRole.USER, False),
    "admin": (None, MembershipState.ACTIVE, PlatformRole.ADMIN, False),
    "moderator": (None, MembershipState.ACTIVE, PlatformRole.MODERATOR, False),
    "disabled": (ScopeRole.OWNER, MembershipState.ACTIVE, PlatformRole.USER, True),
}


@dataclass
class World:
    """One tenant (and a second one) with a user per row of ``PEOPLE``."""

    tenant_id: UUID
    other_tenant_id: UUID
    users: dict[str, UUID] = field(default_factory=dict)

    def subject(self, name: str, *, scopes: frozenset[str] | None = KNOWN_SCOPES) -> Subject:
        """``name`` acting through an API key of theirs holding ``scopes`` (None: a login)."""
        if name == "service":
            principal = _key(self.tenant_id, scopes or frozenset(), user_id=None)
            return Subject.of(principal)
        _, _, platform_role, disabled = PEOPLE[name]
        user_id = self.users[name]
        principal = (
            Principal(
                kind=PrincipalKind.USER,
                subject_id=user_id,
                tenant_id=self.tenant_id,
                credential=Credential.ACCESS_TOKEN,
            )
            if scopes is None
            else _key(self.tenant_id, scopes, user_id=user_id)
        )
        return Subject.of(
            principal,
            platform_role=platform_role,
            email=f"{name}-{user_id}@example.test",
            disabled=disabled,
        )


def _key(tenant_id: UUID, scopes: frozenset[str], *, user_id: UUID | None) -> Principal:
    return Principal(
        kind=PrincipalKind.API_KEY,
        subject_id=uuid4(),
        tenant_id=tenant_id,
        credential=Credential.API_KEY,
        scopes=scopes,
        user_id=user_id,
    )


@pytest.fixture
async def world(make_tenant: TenantFactory, owner_sessions: Sessions) -> World:
    tenant, other = await make_tenant(), await make_tenant()
    built = World(tenant_id=tenant.id, other_tenant_id=other.id)
    async with owner_sessions() as session, session.begin():
        for name, (role, state, platform_role, disabled) in PEOPLE.items():
            user_id = new_id()
            session.add(
                User(
                    id=user_id,
                    email=f"{name}-{user_id}@example.test",
                    display_name=name,
                    role=platform_role,
                    status=UserStatus.DISABLED if disabled else UserStatus.ACTIVE,
                )
            )
            await session.flush()
            if role is not None:
                session.add(
                    TenantMembership(tenant_id=tenant.id, user_id=user_id, role=role, state=state)
                )
            built.users[name] = user_id
        # The outsider belongs to the other tenant, as its owner: that must not leak over.
        session.add(
            TenantMembership(
                tenant_id=other.id, user_id=built.users["outsider"], role=ScopeRole.OWNER
            )
        )
    return built


@pytest.fixture(scope="session")
async def app_engine(
    location: DatabaseLocation, database_settings: DatabaseSettings
) -> AsyncIterator[AsyncEngine]:
    """The application role's engine: row-level security applies, as in requests."""
    engine = create_engine(location.app_url, database_settings, application_name="authz-tests")
    yield engine
    await engine.dispose()


@pytest.fixture
async def tenant_session(app_engine: AsyncEngine, world: World) -> AsyncIterator[AsyncSession]:
    """A transaction as the application role, bound to the world's tenant; rolled back."""
    async with create_sessionmaker(app_engine)() as session, session.begin():
        await bind_tenant(session, world.tenant_id)
        yield session
        await session.rollback()
