"""Errors of the legacies module: each with its HTTP status and stable code."""

from mosaic.core.errors import Conflict, MosaicError, NotFound, ValidationFailed


class LegacyNotFound(NotFound):
    code = "LEGACY_NOT_FOUND"
    default_message = "The legacy was not found"


class DatesOutOfOrder(ValidationFailed):
    code = "DEATH_BEFORE_BIRTH"
    default_message = "The death date cannot be before the birth date"


class LegacyMemberNotFound(NotFound):
    code = "LEGACY_MEMBER_NOT_FOUND"
    default_message = "The member was not found in this legacy"


class LastLegacyOwner(Conflict):
    code = "LAST_LEGACY_OWNER"
    default_message = "A legacy must keep at least one active owner"


class AlreadyLegacyMember(Conflict):
    code = "ALREADY_A_LEGACY_MEMBER"
    default_message = "You are already a member of this legacy"


class JoinAlreadyRequested(Conflict):
    code = "JOIN_ALREADY_REQUESTED"
    default_message = "You have already asked to join this legacy; an owner will decide"


class NotPending(Conflict):
    code = "MEMBERSHIP_NOT_PENDING"
    default_message = "Only a pending request to join can be approved"


class LegacyInvitationNotFound(NotFound):
    code = "LEGACY_INVITATION_NOT_FOUND"
    default_message = "The invitation was not found"


class LegacyInvitationAlreadyAccepted(Conflict):
    code = "LEGACY_INVITATION_ALREADY_ACCEPTED"
    default_message = "The invitation was accepted already and cannot be revoked"


class LegacyInvitationGone(MosaicError):
    """An invitation token that once worked and no longer does."""

    status_code = 410
    code = "LEGACY_INVITATION_GONE"
    default_message = "The invitation can no longer be accepted"


class LegacyInvitationExpired(LegacyInvitationGone):
    code = "LEGACY_INVITATION_EXPIRED"
    default_message = "The invitation has expired"


class LegacyInvitationUsed(LegacyInvitationGone):
    code = "LEGACY_INVITATION_USED"
    default_message = "The invitation was already accepted"


class LegacyInvitationRevoked(LegacyInvitationGone):
    code = "LEGACY_INVITATION_REVOKED"
    default_message = "The invitation was revoked"
