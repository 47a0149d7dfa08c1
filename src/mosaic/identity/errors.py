"""Errors of the identity module."""

from mosaic.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    MosaicError,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)


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


class NotAUser(Forbidden):
    code = "NOT_A_USER"
    default_message = "This credential does not act for a user"


class PlatformAdminRequired(Forbidden):
    code = "PLATFORM_ADMIN_REQUIRED"
    default_message = "Only platform administrators may do this"


class NoTenantAccess(Forbidden):
    code = "NO_TENANT_ACCESS"
    default_message = "Your account has no active membership of this tenant; ask for an invitation"


class LocalAccountsDisabled(NotFound):
    code = "LOCAL_ACCOUNTS_DISABLED"
    default_message = "Local accounts are switched off on this installation"


class UserNotFound(NotFound):
    code = "USER_NOT_FOUND"
    default_message = "The user was not found"


class EmailTaken(Conflict):
    code = "EMAIL_TAKEN"
    default_message = "A user with this email already exists"


class CannotChangeOwnAccount(Conflict):
    code = "CANNOT_CHANGE_OWN_ACCOUNT"
    default_message = "Administrators cannot change their own role or status"


class RegistrationUnavailable(ServiceUnavailable):
    code = "REGISTRATION_UNAVAILABLE"
    default_message = "Registration is not available: the registration tenant does not exist"


class OidcProviderNotFound(NotFound):
    code = "OIDC_PROVIDER_NOT_FOUND"
    default_message = "No identity provider is configured under this name"


class OidcLoginFailed(MosaicError):
    """Signing in through an identity provider did not work; the code says why."""

    status_code = 400
    code = "OIDC_LOGIN_FAILED"
    default_message = "Signing in with the identity provider failed; start again"


class OidcAccessDenied(OidcLoginFailed):
    status_code = 403
    code = "OIDC_ACCESS_DENIED"
    default_message = "The identity provider did not grant access"


class OidcStateInvalid(OidcLoginFailed):
    code = "OIDC_STATE_INVALID"
    default_message = "This sign-in is unknown, was already completed or has expired; start again"


class OidcCodeRejected(OidcLoginFailed):
    code = "OIDC_CODE_REJECTED"
    default_message = "The identity provider refused the authorization code; start again"


class OidcIdTokenInvalid(OidcLoginFailed):
    status_code = 401
    code = "OIDC_ID_TOKEN_INVALID"
    default_message = "The identity provider's ID token is not valid"


class OidcEmailRequired(OidcLoginFailed):
    code = "OIDC_EMAIL_REQUIRED"
    default_message = "The identity provider did not share an email address"


class OidcEmailInUse(Conflict):
    code = "OIDC_EMAIL_IN_USE"
    default_message = (
        "An account with this email exists, and the identity provider has not verified the "
        "email, so the two cannot be linked; sign in the way you usually do"
    )


class OidcProviderUnavailable(MosaicError):
    status_code = 502
    code = "OIDC_PROVIDER_UNAVAILABLE"
    default_message = "The identity provider could not be reached; retry later"


class CsrfFailed(Forbidden):
    code = "CSRF_FAILED"
    default_message = (
        "Cross-site request refused: send the mosaic_csrf cookie's value as X-CSRF-Token "
        "from an allowed origin"
    )


class IdentityNotFound(NotFound):
    code = "IDENTITY_NOT_FOUND"
    default_message = "The linked identity was not found"


class LastSignInMethod(Conflict):
    code = "LAST_SIGN_IN_METHOD"
    default_message = "This is your only way to sign in; link another or set a password first"


class ResetTokenInvalid(BadRequest):
    """An unknown, used or expired password-reset token: one answer for all three."""

    code = "RESET_TOKEN_INVALID"
    default_message = "The password reset link is invalid or has expired; request a new one"
