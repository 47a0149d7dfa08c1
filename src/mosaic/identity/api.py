"""HTTP routes of the identity module: the current tenant and its API keys."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from mosaic.authz import AccessDenied, MissingScope
from mosaic.authz.dependencies import CurrentSubject
from mosaic.core.errors import (
    ErrorEnvelope,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    ValidationFailed,
    error_responses,
)
from mosaic.core.pagination import Page, PageParams
from mosaic.core.principal import Principal
from mosaic.identity import service
from mosaic.identity.audit import AuditAction, AuditRecord, Origin, record
from mosaic.identity.dependencies import IdempotentCreateDep, TenantSession
from mosaic.identity.errors import ApiKeyNotFound, CsrfFailed, InvalidCredentials
from mosaic.identity.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead, TenantRead

router = APIRouter(
    tags=["identity"],
    responses={
        **error_responses(InvalidCredentials, CsrfFailed, MissingScope, AccessDenied),
        422: {"model": ErrorEnvelope, "description": "VALIDATION_ERROR"},
    },
)


@router.get("/tenant", response_model=TenantRead, summary="The tenant the credential acts in")
async def read_current_tenant(session: TenantSession, subject: CurrentSubject) -> TenantRead:
    tenant = await service.get_current_tenant(session, subject=subject)
    return TenantRead.model_validate(tenant)


@router.get("/api-keys", response_model=Page[ApiKeyRead], summary="List the tenant's API keys")
async def list_api_keys(
    session: TenantSession, subject: CurrentSubject, page: PageParams
) -> Page[ApiKeyRead]:
    rows = await service.list_api_keys(
        session, subject=subject, after=page.after, limit=page.limit + 1
    )
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
    request: Request,
    session: TenantSession,
    subject: CurrentSubject,
    idempotency: IdempotentCreateDep,
) -> JSONResponse:
    key, plaintext = await service.issue_api_key(session, subject=subject, data=data)
    await record(
        session, _key_audit(AuditAction.API_KEY_CREATED, key.id, subject.principal, request)
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
async def read_api_key(key_id: UUID, session: TenantSession, subject: CurrentSubject) -> ApiKeyRead:
    key = await service.get_api_key(session, subject=subject, key_id=key_id)
    return ApiKeyRead.model_validate(key)


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key",
    responses=error_responses(ApiKeyNotFound),
)
async def revoke_api_key(
    key_id: UUID, request: Request, session: TenantSession, subject: CurrentSubject
) -> Response:
    await service.revoke_api_key(session, subject=subject, key_id=key_id)
    await record(
        session, _key_audit(AuditAction.API_KEY_REVOKED, key_id, subject.principal, request)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _key_audit(
    action: AuditAction, key_id: UUID, principal: Principal, request: Request
) -> AuditRecord:
    return AuditRecord(
        action=action,
        tenant_id=principal.tenant_id,
        actor_user_id=principal.user_id,
        actor=principal.key,
        subject=f"api_key:{key_id}",
        origin=Origin.of(request),
    )
