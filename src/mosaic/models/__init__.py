"""ORM models, a file per aggregate. Importing this package registers every table."""

from mosaic.models.api_key import ApiKey
from mosaic.models.audit_event import AuditEvent
from mosaic.models.base import Base, TenantOwned
from mosaic.models.browser_session import BrowserSession
from mosaic.models.idempotency_record import IdempotencyRecord
from mosaic.models.oidc_login import OidcLogin
from mosaic.models.password_reset_token import PasswordResetToken
from mosaic.models.refresh_token import RefreshToken
from mosaic.models.signing_key import SigningKey
from mosaic.models.tenant import Tenant
from mosaic.models.tenant_invitation import TenantInvitation
from mosaic.models.tenant_membership import MembershipState, ScopeRole, TenantMembership
from mosaic.models.user import PlatformRole, User, UserStatus
from mosaic.models.user_identity import UserIdentity

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "BrowserSession",
    "IdempotencyRecord",
    "MembershipState",
    "OidcLogin",
    "PasswordResetToken",
    "PlatformRole",
    "RefreshToken",
    "ScopeRole",
    "SigningKey",
    "Tenant",
    "TenantInvitation",
    "TenantMembership",
    "TenantOwned",
    "User",
    "UserIdentity",
    "UserStatus",
]
