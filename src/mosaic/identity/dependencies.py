"""Authentication and the tenant-bound session: the one choke point where a request's
transaction is scoped to its tenant."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import structlog
from fastapi import Depends, Header, Request
from fastapi.security import (
    APIKeyCookie,
    APIKeyHeader,
    HTTPAuthorizationCredentials,
    HTTPBearer,
    OAuth2PasswordBearer,
)
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from mosaic.core.database import Database, bind_tenant
from mosaic.core.dependencies import (
    RequestSession,
    SettingsDep,
    app_database,
    app_settings,
)
from mosaic.core.idempotency import IDEMPOTENCY_HEADER, IDEMPOTENCY_SEAL_PURPOSE, IdempotentCreate
from mosaic.core.principal import Principal
from mosaic.core.sealing import Sealer
from mosaic.identity import auth_service, membership_service, service, session_service
from mosaic.identity.api_key_secrets import KEY_PREFIX
from mosaic.identity.audit import AuditAction, AuditRecord, Origin, record_independently
from mosaic.identity.components import IdentityComponents
from mosaic.identity.errors import CsrfFailed, InvalidCredentials, LocalAccountsDisabled
from mosaic.identity.membership_repository import InvitationLookup
from mosaic.identity.membership_schemas import InvitationAccept

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 - a path, not a secret

# Three ways to present a credential, all shown in /docs: the OAuth2 password flow (the
# Authorize button signs in and sends the access token), a pasted bearer token (an access
# token or an API key) and the X-API-Key header.
_oauth2 = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL, auto_error=False, description="Sign in with a local account"
)
_bearer = HTTPBearer(
    auto_error=False, description="An access token, or an API key (`msk_…`), as a bearer token"
)
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key")
_session_cookie = APIKeyCookie(
    name=session_service.SESSION_COOKIE,
    auto_error=False,
    description="A browser session (after /auth/{provider}/login); unsafe methods also need "
    "the mosaic_csrf cookie's value in X-CSRF-Token",
)
SessionCookie = Annotated[str | None, Depends(_session_cookie)]


def own_origin(request: Request, settings: SettingsDep) -> str:
    """The origin browsers reach this server at: configured, else the request's own."""
    return settings.server.public_url or f"{request.url.scheme}://{request.url.netloc}"


async def _csrf_evidence(request: Request, settings: SettingsDep) -> session_service.CsrfEvidence:
    return session_service.CsrfEvidence(
        method=request.method,
        origin=request.headers.get("origin"),
        referer=request.headers.get("referer"),
        token=request.headers.get(session_service.CSRF_HEADER),
        allowed=session_service.allowed_origins(
            configured=settings.server.cors_origins, own_origin=own_origin(request, settings)
        ),
    )


CsrfEvidenceDep = Annotated[session_service.CsrfEvidence, Depends(_csrf_evidence)]


def app_identity(request: HTTPConnection) -> IdentityComponents:
    """The application's identity components (keys, hasher, throttles, access cache…)."""
    components: IdentityComponents = request.app.state.identity
    return components


async def _identity(request: Request) -> IdentityComponents:
    return app_identity(request)


IdentityDep = Annotated[IdentityComponents, Depends(_identity)]


async def _local_accounts(components: IdentityDep) -> IdentityComponents:
    if not components.settings.local_accounts_enabled:
        raise LocalAccountsDisabled()
    return components


LocalAccounts = Annotated[IdentityComponents, Depends(_local_accounts)]


async def _authenticate_cookie(
    request: Request,
    session: AsyncSession,
    database: Database,
    components: IdentityComponents,
    *,
    cookie: str,
    csrf: session_service.CsrfEvidence,
) -> Principal:
    """A browser session's principal; unsafe methods must also pass the CSRF checks.

    The cookie is the only ambient credential: a browser attaches it to cross-site requests
    too, so an unsafe request must prove it comes from our web app (Origin and the double
    submitted token). Bearer tokens and API keys are never attached by a browser on its own.
    """
    by_cookie = await session_service.authenticate(session, components=components, cookie=cookie)
    principal = by_cookie.principal
    reason = session_service.csrf_failure(csrf, csrf_hash=by_cookie.csrf_hash)
    if reason is not None:
        await record_independently(
            database.sessionmaker,
            AuditRecord(
                action=AuditAction.ACCESS_DENIED,
                outcome="failure",
                tenant_id=principal.tenant_id,
                actor_user_id=principal.user_id,
                actor=principal.key,
                subject="csrf",
                reason=reason,
                origin=Origin.of(request),
                details={"method": request.method, "path": request.url.path},
            ),
        )
        raise CsrfFailed()
    return principal


async def _authenticate(
    request: Request,
    session: RequestSession,
    _oauth2_token: Annotated[str | None, Depends(_oauth2)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
    session_cookie: SessionCookie,
) -> Principal:
    # The app's state is read, not declared: this sub-tree is walked wherever it is declared
    # (core.dependencies says why); the security schemes stay, for OpenAPI.
    components = app_identity(request)
    presented = bearer.credentials if bearer is not None else api_key
    authenticated = None
    if not presented:
        if not session_cookie:
            raise InvalidCredentials("Authentication is required")
        # Only a cookie needs the CSRF evidence: bearer tokens and keys skip building it.
        csrf = await _csrf_evidence(request, app_settings(request))
        principal = await _authenticate_cookie(
            request, session, app_database(request), components, cookie=session_cookie, csrf=csrf
        )
    elif bearer is None or presented.startswith(KEY_PREFIX):
        authenticated = await service.authenticate_api_key(session, plaintext=presented)
        principal = authenticated.principal
        await auth_service.check_key_owner(session, components=components, principal=principal)
    else:
        principal = await auth_service.authenticate_access_token(
            session, components=components, token=presented
        )
    # The only place a request's transaction is bound to a tenant (row-level security), and
    # the tenant comes from the verified credential, never from the request.
    await bind_tenant(session, principal.tenant_id)
    if authenticated is not None:
        await service.record_api_key_use(session, key=authenticated)
    structlog.contextvars.bind_contextvars(
        tenant_id=str(principal.tenant_id), principal=principal.key
    )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_authenticate)]


async def _tenant_session(session: RequestSession, _: CurrentPrincipal) -> AsyncSession:
    # Depending on the principal is what binds the tenant: FastAPI runs _authenticate once
    # per request and shares the same session with every dependency. (FastAPI still walks
    # _authenticate's sub-tree wherever it is declared, so a dependency that needs both the
    # principal and the session declares ``CurrentPrincipal`` then ``RequestSession``.)
    return session


TenantSession = Annotated[AsyncSession, Depends(_tenant_session)]


async def _idempotent_create(
    request: Request,
    principal: CurrentPrincipal,
    # Tenant-bound by the principal (declared first); see ``TenantSession``.
    session: RequestSession,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            description="Send the same key to retry a create safely: you get the first answer.",
        ),
    ] = None,
) -> IdempotentCreate:
    return await IdempotentCreate.reserve(
        session,
        tenant_id=principal.tenant_id,
        principal=principal.key,
        key=idempotency_key,
        method=request.method,
        path=request.url.path,
        body=await request.body(),
        ttl=timedelta(hours=settings.security.idempotency_ttl_hours),
        sealer=Sealer.for_secret(
            settings.security.secret_key.get_secret_value(), IDEMPOTENCY_SEAL_PURPOSE
        ),
    )


IdempotentCreateDep = Annotated[IdempotentCreate, Depends(_idempotent_create)]


async def _invitation_to_accept(session: TenantSession, data: InvitationAccept) -> InvitationLookup:
    invitation = await membership_service.find_invitation(session, token=data.token)
    # The one request that acts outside its credential's tenant, so the other place a
    # transaction is bound: accepting an invitation is joining its tenant, and the membership
    # row can only be written there (row-level security). The tenant again comes from a
    # verified credential — the invitation token, found by its hash — never from the request.
    await bind_tenant(session, invitation.tenant_id)
    return invitation


# For POST /invitations/accept only: from here on the transaction acts in the invitation's
# tenant, not the credential's.
InvitationToAccept = Annotated[InvitationLookup, Depends(_invitation_to_accept)]
