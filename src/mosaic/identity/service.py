"""Rules of the identity module: authenticating API keys, managing keys and tenants.

Services take the session first and everything else by keyword; they never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic import authz
from mosaic.authz import (
    Action,
    ApiKeyResource,
    MissingScope,
    ResourceKind,
    Subject,
    TenantResource,
)
from mosaic.core.errors import ValidationFailed
from mosaic.core.ids import new_id
from mosaic.core.principal import Credential, Principal, PrincipalKind
from mosaic.events import record as record_event
from mosaic.identity import api_key_secrets, repository
from mosaic.identity.errors import (
    ApiKeyNotFound,
    InvalidCredentials,
    TenantNotFound,
    TenantSlugTaken,
)
from mosaic.identity.events import ApiKeyCreated, ApiKeyRevoked, actor_of
from mosaic.identity.schemas import ApiKeyCreate
from mosaic.models import ApiKey, Tenant

logger = structlog.get_logger(__name__)

# Writing last_used_at on every request would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class AuthenticatedKey:
    """A verified API key: the principal it stands for, and when it was last used."""

    principal: Principal
    last_used_at: datetime | None


async def authenticate_api_key(session: AsyncSession, *, plaintext: str) -> AuthenticatedKey:
    """The principal a presented key stands for; one error for every way it can fail."""
    prefix = api_key_secrets.prefix_of(plaintext)
    found = await repository.find_key_for_verification(session, prefix) if prefix else None
    now = datetime.now(UTC)
    reason = None
    if found is None or not api_key_secrets.matches(plaintext, found.secret_hash):
        reason = "unknown_key"
    elif found.revoked_at is not None:
        reason = "revoked"
    elif found.expires_at is not None and found.expires_at <= now:
        reason = "expired"
    if reason is not None or found is None:
        logger.info("authentication_failed", credential="api_key", reason=reason, prefix=prefix)
        raise InvalidCredentials()
    principal = Principal(
        kind=PrincipalKind.API_KEY,
        subject_id=found.id,
        tenant_id=found.tenant_id,
        credential=Credential.API_KEY,
        scopes=frozenset(found.scopes),
        # A user's key acts as that user, narrowed by its scopes.
        user_id=found.created_by,
    )
    return AuthenticatedKey(principal=principal, last_used_at=found.last_used_at)


async def record_api_key_use(session: AsyncSession, *, key: AuthenticatedKey) -> None:
    """Stamp ``last_used_at``; the session must already be bound to the key's tenant.

    Before the tenant is bound, row-level security hides every key, so the update would
    silently match nothing.
    """
    now = datetime.now(UTC)
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        await repository.touch_key(session, key.principal.subject_id, now)


async def list_api_keys(
    session: AsyncSession, *, subject: Subject, after: UUID | None, limit: int
) -> Sequence[ApiKey]:
    """The keys ``subject`` may see, in id order."""
    visible = await authz.read_filter(subject, repository.API_KEY_ROWS)
    return await repository.list_keys(session, visible=visible, after=after, limit=limit)


async def issue_api_key(
    session: AsyncSession, *, subject: Subject, data: ApiKeyCreate
) -> tuple[ApiKey, str]:
    """Create a key in the subject's tenant, owned by the subject's user (if any)."""
    await authz.authorize(session, subject, Action.CREATE, ApiKeyResource(subject.tenant_id))
    return await create_api_key(
        session,
        tenant_id=subject.tenant_id,
        data=data,
        granted_by=subject.principal,
        created_by=subject.user_id,
    )


async def create_api_key(
    session: AsyncSession,
    *,
    tenant_id: UUID,
    data: ApiKeyCreate,
    granted_by: Principal | None,
    created_by: UUID | None = None,
) -> tuple[ApiKey, str]:
    """Create a key in ``tenant_id``; returns it with its plaintext (shown once).

    A key created with another key cannot carry scopes that key lacks; ``granted_by`` None is
    the operator (the CLI), who may grant any scope.
    """
    if data.expires_at is not None:
        if data.expires_at.tzinfo is None:
            raise ValidationFailed("expires_at must include a time zone")
        if data.expires_at <= datetime.now(UTC):
            raise ValidationFailed("expires_at must be in the future")
    scopes = sorted(set(data.scopes))
    if granted_by is not None and granted_by.kind is PrincipalKind.API_KEY:
        beyond = set(scopes) - granted_by.scopes
        if beyond:
            raise MissingScope(
                "An API key cannot grant scopes its creator does not have",
                details={"scopes": sorted(beyond)},
            )
    generated = api_key_secrets.generate_key()
    key = ApiKey(
        id=new_id(),
        tenant_id=tenant_id,
        name=data.name,
        prefix=generated.prefix,
        secret_hash=generated.secret_hash,
        scopes=scopes,
        expires_at=data.expires_at,
        created_by=created_by,
    )
    session.add(key)
    await session.flush()
    await session.refresh(key)
    logger.info(
        "api_key_created", api_key_id=str(key.id), prefix=key.prefix, tenant_id=str(tenant_id)
    )
    await record_event(
        session,
        ApiKeyCreated(tenant_id=tenant_id, resource_id=key.id, api_key_id=key.id, scopes=scopes),
        # No principal is the operator at the CLI: no actor to name.
        actor_id=actor_of(granted_by) if granted_by is not None else None,
    )
    return key, generated.plaintext


async def get_api_key(
    session: AsyncSession, *, subject: Subject, key_id: UUID, action: Action = Action.READ
) -> ApiKey:
    """A key of the bound tenant that ``subject`` may ``action`` (404 when there is none)."""
    await authz.authorize_kind(subject, action, ResourceKind.API_KEY)
    key = await repository.get_key(session, key_id)
    if key is None:
        raise ApiKeyNotFound()
    resource = ApiKeyResource(key.tenant_id, key.id, created_by=key.created_by)
    await authz.authorize(session, subject, action, resource)
    return key


async def revoke_api_key(session: AsyncSession, *, subject: Subject, key_id: UUID) -> ApiKey:
    """Revoke a key; revoking a revoked key changes nothing."""
    key = await get_api_key(session, subject=subject, key_id=key_id, action=Action.DELETE)
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        await session.flush()
        logger.info("api_key_revoked", api_key_id=str(key.id), prefix=key.prefix)
        await record_event(
            session,
            ApiKeyRevoked(tenant_id=key.tenant_id, resource_id=key.id, api_key_id=key.id),
            actor_id=actor_of(subject.principal),
        )
    return key


async def get_current_tenant(session: AsyncSession, *, subject: Subject) -> Tenant:
    """The tenant the subject's credential acts in."""
    await authz.authorize(session, subject, Action.READ, TenantResource(subject.tenant_id))
    tenant = await repository.get_tenant(session, subject.tenant_id)
    if tenant is None:
        raise TenantNotFound()
    return tenant


async def create_tenant(session: AsyncSession, *, slug: str, name: str) -> Tenant:
    """Create a tenant (an operator action: runs as the database owner)."""
    tenant = Tenant(id=new_id(), slug=slug, name=name)
    session.add(tenant)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise TenantSlugTaken(details={"slug": slug}) from None
    await session.refresh(tenant)
    return tenant


async def find_tenant(session: AsyncSession, *, slug: str) -> Tenant:
    tenant = await repository.get_tenant_by_slug(session, slug)
    if tenant is None:
        raise TenantNotFound(details={"slug": slug})
    return tenant
