"""HTTP routes of the identity module: the current tenant and its API keys."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse

from mosaic.core.errors import (
    ErrorEnvelope,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    ValidationFailed,
    error_responses,
)
from mosaic.core.pagination import Page, PageParams
from mosaic.identity import repository, service
from mosaic.identity.dependencies import CurrentPrincipal, IdempotentCreateDep, TenantSession
from mosaic.identity.errors import ApiKeyNotFound, InvalidCredentials, MissingScope
from mosaic.identity.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead, TenantRead

router = APIRouter(
    tags=["identity"],
    responses={
        **error_responses(InvalidCredentials, MissingScope),
        422: {"model": ErrorEnvelope, "description": "VALIDATION_ERROR"},
    },
)


@router.get("/tenant", response_model=TenantRead, summary="The tenant the credential acts in")
async def read_current_tenant(session: TenantSession, principal: CurrentPrincipal) -> TenantRead:
    service.require_scope(principal, "tenant:read")
    tenant = await service.get_tenant(session, tenant_id=principal.tenant_id)
    return TenantRead.model_validate(tenant)


@router.get("/api-keys", response_model=Page[ApiKeyRead], summary="List the tenant's API keys")
async def list_api_keys(
    session: TenantSession, principal: CurrentPrincipal, page: PageParams
) -> Page[ApiKeyRead]:
    service.require_scope(principal, "api-keys:read")
    rows = await repository.list_keys(session, after=page.after, limit=page.limit + 1)
    return page.page(rows, ApiKeyRead.model_validate, lambda key: key.id)


@router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    summary="Create an API key (its secret is shown once)",
    responses=error_responses(ValidationFailed, IdempotencyKeyReused, IdempotencyKeyInProgress),
)
async def create_api_key(
    data: ApiKeyCreate,
    session: TenantSession,
    principal: CurrentPrincipal,
    idempotency: IdempotentCreateDep,
) -> JSONResponse:
    service.require_scope(principal, "api-keys:write")
    key, plaintext = await service.create_api_key(
        session, tenant_id=principal.tenant_id, data=data, granted_by=principal
    )
    created = ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), key=plaintext)
    return await idempotency.respond(
        created, status_code=201, headers={"Location": f"/api/v1/api-keys/{key.id}"}
    )


@router.get(
    "/api-keys/{key_id}",
    response_model=ApiKeyRead,
    summary="Read one API key",
    responses=error_responses(ApiKeyNotFound),
)
async def read_api_key(
    key_id: UUID, session: TenantSession, principal: CurrentPrincipal
) -> ApiKeyRead:
    service.require_scope(principal, "api-keys:read")
    return ApiKeyRead.model_validate(await service.get_api_key(session, key_id=key_id))


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key",
    responses=error_responses(ApiKeyNotFound),
)
async def revoke_api_key(
    key_id: UUID, session: TenantSession, principal: CurrentPrincipal
) -> Response:
    service.require_scope(principal, "api-keys:write")
    await service.revoke_api_key(session, key_id=key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
