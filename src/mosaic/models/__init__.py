"""ORM models, a file per aggregate. Importing this package registers every table."""

from mosaic.models.api_key import ApiKey
from mosaic.models.audit_event import AuditEvent
from mosaic.models.base import Base, TenantOwned
from mosaic.models.browser_session import BrowserSession
from mosaic.models.consent_record import ConsentRecord, ConsentStatus
from mosaic.models.event_audit_entry import EventAuditEntry
from mosaic.models.event_bus import (
    EventDeadLetter,
    EventDelivery,
    EventSubscription,
    ProcessedEvent,
)
from mosaic.models.idempotency_record import IdempotencyRecord
from mosaic.models.job_run import JobRun, JobRunStatus
from mosaic.models.legacy import Legacy
from mosaic.models.legacy_invitation import LegacyInvitation
from mosaic.models.legacy_member import LegacyMember
from mosaic.models.media import Media, MediaState
from mosaic.models.oidc_login import OidcLogin
from mosaic.models.outbox_event import OutboxEvent
from mosaic.models.password_reset_token import PasswordResetToken
from mosaic.models.provenance import ProvenanceMixin
from mosaic.models.refresh_token import RefreshToken
from mosaic.models.signing_key import SigningKey
from mosaic.models.story import ModerationState, Story, StoryVisibility
from mosaic.models.story_flag import FlagReason, FlagResolution, FlagState, StoryFlag
from mosaic.models.story_revision import StoryRevision
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
    "ConsentRecord",
    "ConsentStatus",
    "EventAuditEntry",
    "EventDeadLetter",
    "EventDelivery",
    "EventSubscription",
    "FlagReason",
    "FlagResolution",
    "FlagState",
    "IdempotencyRecord",
    "JobRun",
    "JobRunStatus",
    "Legacy",
    "LegacyInvitation",
    "LegacyMember",
    "Media",
    "MediaState",
    "MembershipState",
    "ModerationState",
    "OidcLogin",
    "OutboxEvent",
    "PasswordResetToken",
    "PlatformRole",
    "ProcessedEvent",
    "ProvenanceMixin",
    "RefreshToken",
    "ScopeRole",
    "SigningKey",
    "Story",
    "StoryFlag",
    "StoryRevision",
    "StoryVisibility",
    "Tenant",
    "TenantInvitation",
    "TenantMembership",
    "TenantOwned",
    "User",
    "UserIdentity",
    "UserStatus",
]
