"""HTTP routes of browser sign-in with OpenID Connect (the BFF pattern) and linked identities.

``/auth/*`` sits outside the versioned API, as seed 002 lays it out: the browser navigates
there, and the provider redirects back there.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import RedirectResponse

from mosaic.core.dependencies import DatabaseDep, RequestSession, SettingsDep
from mosaic.core.errors import ErrorEnvelope, error_responses
from mosaic.core.pagination import Page, PageParams
from mosaic.core.settings import OIDC_PROVIDER_NAME
from mosaic.identity import auth_service, oidc_service, session_service, user_service
from mosaic.identity.audit import Origin
from mosaic.identity.auth_service import AuthFailure
from mosaic.identity.components import IdentityComponents
from mosaic.identity.dependencies import (
    CsrfEvidenceDep,
    CurrentPrincipal,
    IdentityDep,
    SessionCookie,
    TenantSession,
    own_origin,
)
from mosaic.identity.errors import (
    CsrfFailed,
    IdentityNotFound,
    InvalidCredentials,
    LastSignInMethod,
    NotAUser,
    NoTenantAccess,
    OidcAccessDenied,
    OidcCodeRejected,
    OidcEmailInUse,
    OidcEmailRequired,
    OidcIdTokenInvalid,
    OidcLoginFailed,
    OidcProviderNotFound,
    OidcProviderUnavailable,
    OidcStateInvalid,
    RegistrationUnavailable,
)
from mosaic.identity.schemas import IdentityRead
from mosaic.identity.session_service import IssuedSession

router = APIRouter(prefix="/auth", tags=["browser sign-in"])
identities_router = APIRouter(
    prefix="/me/identities",
    tags=["authentication"],
    responses={
        **error_responses(InvalidCredentials, NotAUser, CsrfFailed),
        422: {"model": ErrorEnvelope, "description": "VALIDATION_ERROR"},
    },
)

ProviderName = Annotated[
    str, Path(pattern=OIDC_PROVIDER_NAME, description="A configured provider, e.g. google")
]


def _callback_url(request: Request, settings: SettingsDep, provider: str) -> str:
    return f"{own_origin(request, settings)}/auth/{provider}/callback"


def _set_session_cookies(
    response: Response, issued: IssuedSession, *, components: IdentityComponents
) -> None:
    max_age = components.settings.browser_session_ttl_days * 86_400
    secure = components.settings.session_cookie_secure
    domain = components.settings.session_cookie_domain
    response.set_cookie(
        session_service.SESSION_COOKIE,
        issued.session_id,
        max_age=max_age,
        path="/",
        domain=domain,
        secure=secure,
        httponly=True,
        samesite="lax",
    )
    # Readable by the web app's JavaScript on purpose: it echoes the value in X-CSRF-Token.
    # A page on another site can neither read it nor set the header.
    response.set_cookie(
        session_service.CSRF_COOKIE,
        issued.csrf_token,
        max_age=max_age,
        path="/",
        domain=domain,
        secure=secure,
        httponly=False,
        samesite="lax",
    )


@router.get(
    "/{provider}/login",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    summary="Start signing in with an identity provider (redirects to it)",
    responses=error_responses(OidcProviderNotFound, OidcProviderUnavailable),
)
async def login(
    provider: ProviderName,
    request: Request,
    session: RequestSession,
    settings: SettingsDep,
    components: IdentityDep,
    return_to: Annotated[
        str | None,
        Query(
            max_length=2048,
            description="Where to go after signing in: a path, or a URL on an allowed origin",
        ),
    ] = None,
) -> RedirectResponse:
    url = await oidc_service.begin_login(
        session,
        components=components,
        provider=provider,
        callback_url=_callback_url(request, settings, provider),
        return_to=return_to,
        allowed_origins=session_service.allowed_origins(
            configured=settings.server.cors_origins, own_origin=own_origin(request, settings)
        ),
    )
    return RedirectResponse(url, status_code=status.HTTP_302_FOUND)


@router.get(
    "/{provider}/callback",
    status_code=status.HTTP_303_SEE_OTHER,
    response_class=RedirectResponse,
    summary="Where the identity provider sends the browser back; sets the session cookies",
    responses=error_responses(
        OidcProviderNotFound,
        OidcLoginFailed,
        OidcStateInvalid,
        OidcAccessDenied,
        OidcCodeRejected,
        OidcIdTokenInvalid,
        OidcEmailRequired,
        OidcEmailInUse,
        OidcProviderUnavailable,
        NoTenantAccess,
        RegistrationUnavailable,
    ),
)
async def callback(
    provider: ProviderName,
    request: Request,
    session: RequestSession,
    database: DatabaseDep,
    settings: SettingsDep,
    components: IdentityDep,
    session_cookie: SessionCookie,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state: Annotated[str | None, Query(max_length=256)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> RedirectResponse:
    oidc_service.provider_client(components, provider)  # 404 before a state is spent
    # Spent in a transaction of its own, committed now: the state works once even if the
    # rest of the callback fails and rolls back.
    async with database.sessionmaker() as own, own.begin():
        login_in_flight = await oidc_service.take_login(own, state=state)
    origin = Origin.of(request)
    try:
        signed_in = await oidc_service.complete_login(
            session,
            components=components,
            provider=provider,
            login=login_in_flight,
            code=code,
            error=error,
            callback_url=_callback_url(request, settings, provider),
            origin=origin,
        )
    except AuthFailure as failure:
        await auth_service.settle_failure(session, database.sessionmaker, failure)
    issued = await session_service.start(
        session,
        components=components,
        user_id=signed_in.user.id,
        tenant_id=signed_in.tenant_id,
        provider=provider,
        origin=origin,
        replacing=session_cookie,
    )
    response = RedirectResponse(signed_in.redirect_to, status_code=status.HTTP_303_SEE_OTHER)
    _set_session_cookies(response, issued, components=components)
    return response


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the browser session and clear its cookies",
    responses=error_responses(CsrfFailed),
)
async def logout(
    request: Request,
    session: RequestSession,
    database: DatabaseDep,
    components: IdentityDep,
    session_cookie: SessionCookie,
    csrf: CsrfEvidenceDep,
) -> Response:
    try:
        await session_service.end(
            session, cookie=session_cookie, csrf=csrf, origin=Origin.of(request)
        )
    except AuthFailure as failure:
        await auth_service.settle_failure(session, database.sessionmaker, failure)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    settings = components.settings
    for name in (session_service.SESSION_COOKIE, session_service.CSRF_COOKIE):
        response.delete_cookie(
            name,
            path="/",
            domain=settings.session_cookie_domain,
            secure=settings.session_cookie_secure,
            samesite="lax",
        )
    return response


@identities_router.get(
    "", response_model=Page[IdentityRead], summary="Your accounts at identity providers"
)
async def list_identities(
    session: TenantSession, principal: CurrentPrincipal, page: PageParams
) -> Page[IdentityRead]:
    user = await user_service.current_user(session, principal=principal)
    rows = await oidc_service.list_identities(
        session, user=user, after=page.after, limit=page.limit + 1
    )
    return page.page(rows, IdentityRead.model_validate, lambda identity: identity.id)


@identities_router.delete(
    "/{identity_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Unlink an identity provider account (not your last way to sign in)",
    responses=error_responses(IdentityNotFound, LastSignInMethod),
)
async def unlink_identity(
    identity_id: UUID,
    request: Request,
    session: TenantSession,
    principal: CurrentPrincipal,
    components: IdentityDep,
) -> Response:
    user = await user_service.current_user(session, principal=principal)
    await oidc_service.unlink(
        session,
        components=components,
        user=user,
        identity_id=identity_id,
        origin=Origin.of(request),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
