"""Errors of the identity module."""

from mosaic.core.errors import Conflict, MosaicError, NotFound, Unauthorized


class InvalidCredentials(Unauthorized):
    code = "INVALID_CREDENTIALS"
    default_message = "The credentials are missing, invalid, expired or revoked"


class ApiKeyNotFound(NotFound):
    code = "API_KEY_NOT_FOUND"
    default_message = "The API key was not found"


class TenantNotFound(NotFound):
    code = "TENANT_NOT_FOUND"
    default_message = "The tenant was not found"


class TenantSlugTaken(Conflict):
    code = "TENANT_SLUG_TAKEN"
    default_message = "A tenant with this slug already exists"


class MemberNotFound(NotFound):
    code = "MEMBER_NOT_FOUND"
    default_message = "The member was not found in this tenant"


class LastOwner(Conflict):
    code = "LAST_OWNER"
    default_message = "A tenant must keep at least one active owner"


class AlreadyMember(Conflict):
    code = "ALREADY_A_MEMBER"
    default_message = "You are already a member of this tenant"


class InvitationNotFound(NotFound):
    code = "INVITATION_NOT_FOUND"
    default_message = "The invitation was not found"


class InvitationAlreadyAccepted(Conflict):
    code = "INVITATION_ALREADY_ACCEPTED"
    default_message = "The invitation was accepted already and cannot be revoked"


class InvitationGone(MosaicError):
    """An invitation token that once worked and no longer does."""

    status_code = 410
    code = "INVITATION_GONE"
    default_message = "The invitation can no longer be accepted"


class InvitationExpired(InvitationGone):
    code = "INVITATION_EXPIRED"
    default_message = "The invitation has expired"


class InvitationUsed(InvitationGone):
    code = "INVITATION_USED"
    default_message = "The invitation was already accepted"


class InvitationRevoked(InvitationGone):
    code = "INVITATION_REVOKED"
    default_message = "The invitation was revoked"
