"""Fixtures for the identity API: a tenant whose key holds every scope, accounts with
passwords, signed-in users, and apps started with other identity settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mosaic.app import create_app
from mosaic.core.database import DatabaseLocation
from mosaic.core.ids import new_id
from mosaic.core.settings import Settings
from mosaic.identity.components import IdentityComponents
from mosaic.models import (
    AuditEvent,
    PlatformRole,
    ScopeRole,
    Tenant,
    TenantMembership,
    User,
    UserStatus,
)
from tests.conftest import TenantFactory, TenantWithKey, unique_client_address

PASSWORD = "correct horse battery staple"
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def tenant(make_tenant: TenantFactory) -> TenantWithKey:
    return await make_tenant()


@dataclass(frozen=True)
class Account:
    """A user with a local password, and the tenant they were put in."""

    id: UUID
    email: str
    password: str
    tenant_id: UUID


AccountFactory = Callable[..., Awaitable[Account]]


def identity_of(app: FastAPI) -> IdentityComponents:
    components: IdentityComponents = app.state.identity
    return components


async def default_tenant_id(sessions: Sessions) -> UUID:
    async with sessions() as session:
        found: UUID = (
            await session.execute(select(Tenant.id).where(Tenant.slug == "default"))
        ).scalar_one()
    return found


@pytest.fixture
def make_account(app: FastAPI, owner_sessions: Sessions) -> AccountFactory:
    """A user with ``PASSWORD``, a member of ``tenant_id`` (default: the default tenant)."""

    async def make(
        *,
        role: PlatformRole = PlatformRole.USER,
        scope_role: ScopeRole = ScopeRole.CONTRIBUTOR,
        tenant_id: UUID | None = None,
        status: UserStatus = UserStatus.ACTIVE,
        password_hash: str | None = None,
    ) -> Account:
        email = f"user-{uuid4().hex[:12]}@example.com"
        hashed = password_hash or await identity_of(app).passwords.hash(PASSWORD)
        tenant = tenant_id or await default_tenant_id(owner_sessions)
        async with owner_sessions() as session, session.begin():
            user = User(
                id=new_id(),
                email=email,
                display_name="Test User",
                first_name="Test",
                last_name="User",
                password_hash=hashed,
                role=role,
                status=status,
            )
            session.add(user)
            await session.flush()
            session.add(TenantMembership(tenant_id=tenant, user_id=user.id, role=scope_role))
        return Account(id=user.id, email=email, password=PASSWORD, tenant_id=tenant)

    return make


@dataclass(frozen=True)
class SignedIn:
    """An account and the token pair its login returned."""

    account: Account
    body: dict[str, Any]

    @property
    def access_token(self) -> str:
        token: str = self.body["access_token"]
        return token

    @property
    def refresh_token(self) -> str:
        token: str = self.body["refresh_token"]
        return token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


SignInFactory = Callable[..., Awaitable[SignedIn]]


async def login(
    client: httpx.AsyncClient, email: str, password: str, **extra: Any
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", json={"email": email, "password": password, **extra}
    )


@pytest.fixture
def sign_in(client: httpx.AsyncClient, make_account: AccountFactory) -> SignInFactory:
    """Make an account (same options as ``make_account``) and log it in."""

    async def make(**options: Any) -> SignedIn:
        account = await make_account(**options)
        response = await login(client, account.email, account.password)
        assert response.status_code == 200, response.text
        return SignedIn(account=account, body=response.json())

    return make


@pytest.fixture
async def signed_in(sign_in: SignInFactory) -> SignedIn:
    return await sign_in()


async def audit_events(sessions: Sessions, *, subject: str) -> list[AuditEvent]:
    async with sessions() as session:
        rows = await session.execute(
            select(AuditEvent).where(AuditEvent.subject == subject).order_by(AuditEvent.id)
        )
        return list(rows.scalars())


async def audit_events_of(sessions: Sessions, *, user_id: UUID) -> list[AuditEvent]:
    async with sessions() as session:
        rows = await session.execute(
            select(AuditEvent).where(AuditEvent.actor_user_id == user_id).order_by(AuditEvent.id)
        )
        return list(rows.scalars())


AppClientFactory = Callable[..., Any]


@pytest.fixture
def client_with(settings: Settings, location: DatabaseLocation) -> Callable[..., Any]:
    """``async with client_with(identity={...}) as client``: an app on other settings."""

    @asynccontextmanager
    async def make(**sections: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
        # Validated (not model_copy): "invite_only" must become the enum member.
        updates = {
            name: type(section).model_validate({**section.model_dump(), **values})
            for name, values in sections.items()
            for section in [getattr(settings, name)]
        }
        application = create_app(settings.model_copy(update=updates), location)
        async with LifespanManager(application):
            transport = httpx.ASGITransport(app=application, client=unique_client_address())
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver"
            ) as client:
                yield client

    return make
