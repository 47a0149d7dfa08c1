"""HTTP routes of local accounts and tokens: register, login, refresh, logout, password reset,
me, validate, and the public signing keys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from mosaic.core.dependencies import DatabaseDep, RequestSession, SettingsDep
from mosaic.core.errors import ErrorEnvelope, RateLimited, ValidationFailed, error_responses
from mosaic.core.mail import send_after_commit
from mosaic.identity import auth_service, password_reset, user_service
from mosaic.identity.audit import Origin
from mosaic.identity.auth_service import AuthFailure, IssuedTokens
from mosaic.identity.components import IdentityComponents
from mosaic.identity.dependencies import CurrentPrincipal, IdentityDep, LocalAccounts, TenantSession
from mosaic.identity.errors import (
    AlreadyMember,
    CsrfFailed,
    InvalidCredentials,
    InvitationExpired,
    InvitationNotFound,
    InvitationRevoked,
    InvitationUsed,
    LocalAccountsDisabled,
    NotAUser,
    NoTenantAccess,
    RegistrationUnavailable,
    ResetTokenInvalid,
)
from mosaic.identity.schemas import (
    LoginRequest,
    LogoutRequest,
    PasswordResetConfirm,
    PasswordResetRequest,
    PasswordResetRequested,
    ProfileUpdate,
    RefreshRequest,
    RegisterAccepted,
    RegisterRequest,
    TokenPair,
    UserEnvelope,
    UserRead,
)

REGISTER_ACCEPTED = (
    "If this email can be registered, the account is ready: sign in with your password."
)
RESET_REQUESTED_MESSAGE = (
    "If this email belongs to an account with a password, a link to reset it is on its way."
)

router = APIRouter(
    tags=["authentication"],
    responses={
        **error_responses(RateLimited),
        422: {"model": ErrorEnvelope, "description": "VALIDATION_ERROR"},
    },
)
well_known_router = APIRouter(tags=["authentication"])


def _pair(issued: IssuedTokens) -> TokenPair:
    return TokenPair(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_in=issued.expires_in,
        tenant_id=issued.tenant_id,
        user=UserRead.model_validate(issued.user),
    )


@router.post(
    "/auth/register",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RegisterAccepted,
    summary="Create a local account (the answer is the same whether or not the email is taken)",
    responses=error_responses(LocalAccountsDisabled, ValidationFailed, RegistrationUnavailable),
)
async def register(
    data: RegisterRequest, request: Request, session: RequestSession, components: LocalAccounts
) -> RegisterAccepted:
    await auth_service.register(
        session, components=components, data=data, origin=Origin.of(request)
    )
    return RegisterAccepted(message=REGISTER_ACCEPTED)


async def _login(
    request: Request,
    session: RequestSession,
    database: DatabaseDep,
    components: IdentityComponents,
    *,
    email: str,
    password: str,
    tenant: str | None,
    invitation_token: str | None = None,
) -> TokenPair:
    try:
        issued = await auth_service.login(
            session,
            components=components,
            email=email,
            password=password,
            tenant=tenant,
            origin=Origin.of(request),
            invitation_token=invitation_token,
        )
    except AuthFailure as failure:
        await auth_service.settle_failure(session, database.sessionmaker, failure)
    return _pair(issued)


_LOGIN_ERRORS = error_responses(InvalidCredentials, NoTenantAccess, LocalAccountsDisabled)
# The invitation's errors come only with an invitation token, after the password was right.
_INVITATION_ERRORS = (
    InvitationNotFound,
    InvitationExpired,
    InvitationUsed,
    InvitationRevoked,
    AlreadyMember,
)


@router.post(
    "/auth/login",
    response_model=TokenPair,
    summary="Sign in with email and password (and accept an invitation, given its token)",
    responses=error_responses(
        InvalidCredentials, NoTenantAccess, LocalAccountsDisabled, *_INVITATION_ERRORS
    ),
)
async def login(
    data: LoginRequest,
    request: Request,
    session: RequestSession,
    database: DatabaseDep,
    components: LocalAccounts,
) -> TokenPair:
    return await _login(
        request,
        session,
        database,
        components,
        email=data.email,
        password=data.password,
        tenant=data.tenant,
        invitation_token=data.invitation_token,
    )


@router.post(
    "/auth/token",
    response_model=TokenPair,
    summary="Sign in with the OAuth2 password flow (form fields username and password)",
    responses=_LOGIN_ERRORS,
)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: RequestSession,
    database: DatabaseDep,
    components: LocalAccounts,
) -> TokenPair:
    return await _login(
        request,
        session,
        database,
        components,
        email=form.username,
        password=form.password,
        tenant=None,
    )


@router.post(
    "/auth/refresh",
    response_model=TokenPair,
    summary="Trade a refresh token for a new pair (each refresh token works once)",
    responses=error_responses(InvalidCredentials, NoTenantAccess, LocalAccountsDisabled),
)
async def refresh(
    data: RefreshRequest,
    request: Request,
    session: RequestSession,
    database: DatabaseDep,
    components: LocalAccounts,
) -> TokenPair:
    try:
        issued = await auth_service.refresh(
            session,
            components=components,
            refresh_token=data.refresh_token,
            tenant=data.tenant,
            origin=Origin.of(request),
        )
    except AuthFailure as failure:
        await auth_service.settle_failure(session, database.sessionmaker, failure)
    return _pair(issued)


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a refresh token and every token descended from the same login",
    responses=error_responses(LocalAccountsDisabled),
)
async def logout(
    data: LogoutRequest, request: Request, session: RequestSession, _: LocalAccounts
) -> Response:
    await auth_service.logout(session, refresh_token=data.refresh_token, origin=Origin.of(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/auth/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PasswordResetRequested,
    summary="Mail a password-reset link (the answer is the same whether or not the email exists)",
    responses=error_responses(LocalAccountsDisabled, ValidationFailed, RateLimited),
)
async def request_password_reset(
    data: PasswordResetRequest,
    request: Request,
    session: RequestSession,
    database: DatabaseDep,
    settings: SettingsDep,
    components: LocalAccounts,
    background: BackgroundTasks,
) -> PasswordResetRequested:
    # The web app's page lives at the public origin; without one, at this request's.
    link_base = settings.server.public_url or str(request.base_url).rstrip("/")
    mail = await password_reset.request_reset(
        session,
        components=components,
        sessionmaker=database.sessionmaker,
        email=data.email,
        link_base=link_base,
        origin=Origin.of(request),
    )
    if mail is not None:
        # After the answer, so after the commit, and never in the answer's timing.
        background.add_task(send_after_commit, components.mailer, mail, about="password_reset")
    return PasswordResetRequested(message=RESET_REQUESTED_MESSAGE)


@router.post(
    "/auth/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a new password with the mailed token (signs the user out everywhere)",
    responses=error_responses(ResetTokenInvalid, LocalAccountsDisabled, ValidationFailed),
)
async def confirm_password_reset(
    data: PasswordResetConfirm,
    request: Request,
    session: RequestSession,
    database: DatabaseDep,
    components: LocalAccounts,
) -> Response:
    try:
        await password_reset.confirm_reset(
            session,
            components=components,
            token=data.token,
            new_password=data.new_password,
            origin=Origin.of(request),
        )
    except AuthFailure as failure:
        await auth_service.settle_failure(session, database.sessionmaker, failure)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_ME_ERRORS = error_responses(InvalidCredentials, NotAUser)


@router.get("/me", response_model=UserRead, summary="The signed-in user", responses=_ME_ERRORS)
async def read_me(session: TenantSession, principal: CurrentPrincipal) -> UserRead:
    return UserRead.model_validate(await user_service.current_user(session, principal=principal))


@router.get("/auth/me", response_model=UserRead, summary="The signed-in user", responses=_ME_ERRORS)
async def read_auth_me(session: TenantSession, principal: CurrentPrincipal) -> UserRead:
    return UserRead.model_validate(await user_service.current_user(session, principal=principal))


@router.get(
    "/auth/validate",
    response_model=UserEnvelope,
    summary="Check a bearer token and return its user as {data: user}",
    responses=_ME_ERRORS,
)
async def validate(session: TenantSession, principal: CurrentPrincipal) -> UserEnvelope:
    user = await user_service.current_user(session, principal=principal)
    return UserEnvelope(data=UserRead.model_validate(user))


@router.patch(
    "/me",
    response_model=UserRead,
    summary="Update your profile",
    responses=error_responses(InvalidCredentials, NotAUser, CsrfFailed),
)
async def update_me(
    data: ProfileUpdate, session: TenantSession, principal: CurrentPrincipal
) -> UserRead:
    user = await user_service.current_user(session, principal=principal)
    return UserRead.model_validate(
        await user_service.update_profile(
            session, user=user, data=data, tenant_id=principal.tenant_id
        )
    )


@well_known_router.get(
    "/.well-known/jwks.json", summary="The public keys that verify access tokens"
)
async def jwks(session: RequestSession, components: IdentityDep) -> dict[str, Any]:
    return await components.keys.jwks(session)
