"""Authorization: roles at the scopes of the forest (tenant > legacy > story) combined with
attribute rules, decided in one place for every service and every list query.

Services call ``authorize(session, subject, action, resource)`` (or ``can``) and list queries
``read_filter(subject, columns)``; see docs/authorization.md.
"""

from mosaic.authz.actions import Action
from mosaic.authz.errors import AccessDenied, MissingScope
from mosaic.authz.filters import apply_read_filter, read_filter
from mosaic.authz.policy import Decision, Reason, authorize, authorize_kind, can, decide
from mosaic.authz.resources import (
    ApiKeyResource,
    AuditEventResource,
    ConsentResource,
    DeadLetterResource,
    InvitationResource,
    LegacyInvitationResource,
    LegacyMemberResource,
    LegacyResource,
    MediaResource,
    MembershipResource,
    PersonalDataResource,
    Resource,
    ResourceKind,
    ScopeKind,
    ScopeRef,
    StoryFlagResource,
    StoryResource,
    TenantResource,
    Visibility,
)
from mosaic.authz.rows import RowColumns
from mosaic.authz.subject import Subject

__all__ = [
    "AccessDenied",
    "Action",
    "ApiKeyResource",
    "AuditEventResource",
    "ConsentResource",
    "DeadLetterResource",
    "Decision",
    "InvitationResource",
    "LegacyInvitationResource",
    "LegacyMemberResource",
    "LegacyResource",
    "MediaResource",
    "MembershipResource",
    "MissingScope",
    "PersonalDataResource",
    "Reason",
    "Resource",
    "ResourceKind",
    "RowColumns",
    "ScopeKind",
    "ScopeRef",
    "StoryFlagResource",
    "StoryResource",
    "Subject",
    "TenantResource",
    "Visibility",
    "apply_read_filter",
    "authorize",
    "authorize_kind",
    "can",
    "decide",
    "read_filter",
]
