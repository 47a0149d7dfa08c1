"""Fixtures for the identity API: a tenant whose key holds every scope, accounts with
passwords, signed-in users, and apps started with other identity settings."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
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
from mosaic.core.settings import IdentitySettings, Settings
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
from tests.processes import free_port

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


# OpenID Connect: a real provider process on loopback (oidc-provider-mock), and an app that
# trusts it as the provider "mock".

APP_ORIGIN = "https://app.example.test"  # the web app's origin: allowed by CORS and CSRF
OWN_ORIGIN = "https://testserver"  # the API's own origin (Secure cookies need https)
OIDC_CLIENT_ID = "mosaic-tests"


@pytest.fixture(scope="session")
def oidc_issuer() -> Iterator[str]:
    """The issuer URL of an ``oidc_provider_mock`` process that requires a nonce."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oidc_provider_mock",
            "--port",
            str(port),
            "--require-nonce",
            "true",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{issuer}/.well-known/openid-configuration").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the OIDC provider mock did not start")
            time.sleep(0.1)
        yield issuer
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@asynccontextmanager
async def oidc_application(
    settings: Settings, location: DatabaseLocation, issuer: str, **identity: Any
) -> AsyncIterator[FastAPI]:
    """The API with the provider ``mock`` at ``issuer`` and the web app's origin allowed."""
    identity_settings = IdentitySettings.model_validate(
        {
            **settings.identity.model_dump(),
            "oidc_providers": {
                "mock": {
                    "issuer": issuer,
                    "client_id": OIDC_CLIENT_ID,
                    "client_secret": "mock-client-secret",
                }
            },
            "user_status_cache_seconds": 0,
            **identity,
        }
    )
    server = settings.server.model_copy(update={"cors_origins": [APP_ORIGIN]})
    application = create_app(
        settings.model_copy(update={"identity": identity_settings, "server": server}), location
    )
    async with LifespanManager(application):
        yield application


def browser_of(application: FastAPI) -> httpx.AsyncClient:
    """A browser-like client: keeps cookies, reaches the API over https."""
    transport = httpx.ASGITransport(app=application, client=unique_client_address())
    return httpx.AsyncClient(transport=transport, base_url=OWN_ORIGIN)


@pytest.fixture(scope="module")
async def oidc_app(
    settings: Settings, location: DatabaseLocation, oidc_issuer: str
) -> AsyncIterator[FastAPI]:
    async with oidc_application(settings, location, oidc_issuer) as application:
        yield application


@pytest.fixture
async def browser(oidc_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with browser_of(oidc_app) as client:
        yield client


@dataclass(frozen=True)
class ProviderUser:
    """A user at the provider: their ``sub`` and the claims the provider will assert."""

    sub: str
    email: str
    email_verified: bool = True


@pytest.fixture
def provider_user(oidc_issuer: str) -> Callable[..., Awaitable[ProviderUser]]:
    """Register a user (fresh ``sub``) at the provider with these claims."""

    async def make(*, email: str | None = None, email_verified: bool = True) -> ProviderUser:
        sub = f"sub-{uuid4().hex[:12]}"
        user = ProviderUser(
            sub=sub, email=email or f"{sub}@idp.example.com", email_verified=email_verified
        )
        claims = {
            "email": user.email,
            "email_verified": email_verified,
            "given_name": "Ada",
            "family_name": "Lovelace",
            "name": "Ada Lovelace",
        }
        async with httpx.AsyncClient() as idp:
            response = await idp.put(f"{oidc_issuer}/users/{sub}", json=claims)
        assert response.status_code < 300, response.text
        return user

    return make


async def start_login(browser: httpx.AsyncClient, **params: str) -> str:
    """Begin signing in with ``mock``; the provider's authorization URL."""
    response = await browser.get("/auth/mock/login", params=params)
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def authorize_at_provider(authorization_url: str, *, sub: str | None) -> str:
    """Approve (or with ``sub=None`` deny) at the provider, as its form does; the callback URL."""
    form = {"sub": sub} if sub is not None else {"action": "deny"}
    async with httpx.AsyncClient() as idp:
        response = await idp.post(authorization_url, data=form)
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def sign_in_with_provider(
    browser: httpx.AsyncClient, user: ProviderUser, **params: str
) -> httpx.Response:
    """The whole browser flow: login, the provider's consent, the callback."""
    callback = await authorize_at_provider(await start_login(browser, **params), sub=user.sub)
    return await browser.get(callback)


def csrf_headers(browser: httpx.AsyncClient, origin: str = OWN_ORIGIN) -> dict[str, str]:
    """What the web app sends on unsafe requests: its origin and the CSRF cookie's value."""
    return {"Origin": origin, "X-CSRF-Token": browser.cookies["mosaic_csrf"]}
