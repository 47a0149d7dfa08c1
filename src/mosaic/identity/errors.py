"""Errors of the identity module."""

from mosaic.core.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, Unauthorized


class InvalidCredentials(Unauthorized):
    code = "INVALID_CREDENTIALS"
    default_message = "The credentials are missing, invalid, expired or revoked"


class MissingScope(Forbidden):
    code = "MISSING_SCOPE"
    default_message = "The credential does not carry the scope this action needs"


class ApiKeyNotFound(NotFound):
    code = "API_KEY_NOT_FOUND"
    default_message = "The API key was not found"


class TenantNotFound(NotFound):
    code = "TENANT_NOT_FOUND"
    default_message = "The tenant was not found"


class TenantSlugTaken(Conflict):
    code = "TENANT_SLUG_TAKEN"
    default_message = "A tenant with this slug already exists"


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
