"""Errors of the identity module."""

from mosaic.core.errors import Conflict, NotFound, Unauthorized


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
