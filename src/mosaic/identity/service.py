"""Rules of the identity module: authenticating API keys, managing keys and tenants.

Services take the session first and everything else by keyword; they never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.core.errors import ValidationFailed
from mosaic.core.ids import new_id
from mosaic.core.principal import Credential, Principal, PrincipalKind
from mosaic.identity import api_key_secrets, repository
from mosaic.identity.errors import (
    ApiKeyNotFound,
    InvalidCredentials,
    MissingScope,
    TenantNotFound,
    TenantSlugTaken,
)
from mosaic.identity.schemas import ApiKeyCreate
from mosaic.models import ApiKey, ScopeRole, Tenant

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


# Until the policy module decides per action, a user's token carries the API scopes of their
# tenant role: owners manage the tenant's API keys, everyone else may read the tenant.
_SCOPES_BY_ROLE: dict[ScopeRole, frozenset[str]] = {
    ScopeRole.OWNER: frozenset({"tenant:read", "api-keys:read", "api-keys:write"}),
    ScopeRole.EDITOR: frozenset({"tenant:read"}),
    ScopeRole.CONTRIBUTOR: frozenset({"tenant:read"}),
    ScopeRole.VIEWER: frozenset({"tenant:read"}),
}


def scopes_for_role(role: ScopeRole) -> frozenset[str]:
    """The API scopes a user holds through their tenant role."""
    return _SCOPES_BY_ROLE[role]


def require_scope(principal: Principal, scope: str) -> None:
    """Raise ``MissingScope`` (403) unless ``principal`` carries ``scope``."""
    if not principal.has_scope(scope):
        logger.info("access_denied", reason="missing_scope", scope=scope, principal=principal.key)
        raise MissingScope(details={"required_scope": scope})


async def create_api_key(
    session: AsyncSession, *, tenant_id: UUID, data: ApiKeyCreate, granted_by: Principal | None
) -> tuple[ApiKey, str]:
    """Create a key in ``tenant_id``; returns it with its plaintext (shown once).

    A key created through the API cannot carry scopes its creator lacks.
    """
    if data.expires_at is not None:
        if data.expires_at.tzinfo is None:
            raise ValidationFailed("expires_at must include a time zone")
        if data.expires_at <= datetime.now(UTC):
            raise ValidationFailed("expires_at must be in the future")
    scopes = sorted(set(data.scopes))
    if granted_by is not None:
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
        # A key made by a user (or by a user's key) acts as that user, narrowed by its scopes.
        created_by=granted_by.user_id if granted_by is not None else None,
    )
    session.add(key)
    await session.flush()
    await session.refresh(key)
    logger.info(
        "api_key_created", api_key_id=str(key.id), prefix=key.prefix, tenant_id=str(tenant_id)
    )
    return key, generated.plaintext


async def get_api_key(session: AsyncSession, *, key_id: UUID) -> ApiKey:
    key = await repository.get_key(session, key_id)
    if key is None:
        raise ApiKeyNotFound()
    return key


async def revoke_api_key(session: AsyncSession, *, key_id: UUID) -> ApiKey:
    """Revoke a key; revoking a revoked key changes nothing."""
    key = await get_api_key(session, key_id=key_id)
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        await session.flush()
        logger.info("api_key_revoked", api_key_id=str(key.id), prefix=key.prefix)
    return key


async def get_tenant(session: AsyncSession, *, tenant_id: UUID) -> Tenant:
    tenant = await repository.get_tenant(session, tenant_id)
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
