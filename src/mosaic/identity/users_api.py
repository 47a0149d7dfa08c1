"""HTTP routes for platform administrators: every user account."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse

from mosaic.core.errors import ErrorEnvelope, ValidationFailed, error_responses
from mosaic.core.pagination import Page, PageParams
from mosaic.identity import user_service
from mosaic.identity.audit import Origin
from mosaic.identity.dependencies import CurrentPrincipal, IdentityDep, TenantSession
from mosaic.identity.errors import (
    CannotChangeOwnAccount,
    CsrfFailed,
    EmailTaken,
    InvalidCredentials,
    PlatformAdminRequired,
    UserNotFound,
)
from mosaic.identity.schemas import UserAdminUpdate, UserCreate, UserRead
from mosaic.models import UserStatus

router = APIRouter(
    prefix="/users",
    tags=["users"],
    responses={
        **error_responses(InvalidCredentials, CsrfFailed, PlatformAdminRequired),
        422: {"model": ErrorEnvelope, "description": "VALIDATION_ERROR"},
    },
)


@router.get("", response_model=Page[UserRead], summary="List users (platform admins)")
async def list_users(
    session: TenantSession,
    principal: CurrentPrincipal,
    page: PageParams,
    search: Annotated[
        str | None, Query(max_length=100, description="Part of an email or display name")
    ] = None,
) -> Page[UserRead]:
    user_service.require_platform_admin(principal)
    rows = await user_service.list_users(
        session, after=page.after, limit=page.limit + 1, search=search
    )
    return page.page(rows, UserRead.model_validate, lambda user: user.id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    summary="Create a user (platform admins)",
    responses=error_responses(EmailTaken, ValidationFailed),
)
async def create_user(
    data: UserCreate,
    request: Request,
    session: TenantSession,
    principal: CurrentPrincipal,
    components: IdentityDep,
) -> JSONResponse:
    user_service.require_platform_admin(principal)
    user = await user_service.create_user(
        session, components=components, data=data, actor=principal, origin=Origin.of(request)
    )
    return JSONResponse(
        UserRead.model_validate(user).model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED,
        headers={"Location": f"/api/v1/users/{user.id}"},
    )


@router.get(
    "/{user_id}",
    response_model=UserRead,
    summary="Read a user (platform admins)",
    responses=error_responses(UserNotFound),
)
async def read_user(user_id: UUID, session: TenantSession, principal: CurrentPrincipal) -> UserRead:
    user_service.require_platform_admin(principal)
    return UserRead.model_validate(await user_service.get_user(session, user_id=user_id))


@router.patch(
    "/{user_id}",
    response_model=UserRead,
    summary="Update a user, their platform role or status (platform admins)",
    responses=error_responses(UserNotFound, CannotChangeOwnAccount),
)
async def update_user(
    user_id: UUID,
    data: UserAdminUpdate,
    request: Request,
    session: TenantSession,
    principal: CurrentPrincipal,
    components: IdentityDep,
) -> UserRead:
    user_service.require_platform_admin(principal)
    user = await user_service.update_user(
        session,
        components=components,
        user_id=user_id,
        data=data,
        actor=principal,
        origin=Origin.of(request),
    )
    return UserRead.model_validate(user)


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Disable a user (a soft delete: sign-in stops, their data stays; platform admins)",
    responses=error_responses(UserNotFound, CannotChangeOwnAccount),
)
async def disable_user(
    user_id: UUID,
    request: Request,
    session: TenantSession,
    principal: CurrentPrincipal,
    components: IdentityDep,
) -> Response:
    user_service.require_platform_admin(principal)
    await user_service.update_user(
        session,
        components=components,
        user_id=user_id,
        data=UserAdminUpdate(status=UserStatus.DISABLED),
        actor=principal,
        origin=Origin.of(request),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
