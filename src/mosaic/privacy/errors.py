"""Errors of the privacy module."""

from mosaic.core.errors import Conflict, Forbidden, ServiceUnavailable, ValidationFailed


class ConfirmationMismatch(ValidationFailed):
    code = "CONFIRMATION_MISMATCH"
    default_message = "Type the account's email address in confirm to erase it"


class UserAccountRequired(Forbidden):
    code = "USER_ACCOUNT_REQUIRED"
    default_message = "Personal data belongs to a user: sign in, or use a user's API key"


class BlobStoreMissing(ServiceUnavailable):
    code = "BLOB_STORE_MISSING"
    default_message = "Media storage is not configured, so the account's files cannot be erased"


class SoleOwner(Conflict):
    code = "SOLE_OWNER"
    default_message = (
        "The account is the last owner of a community others belong to: make someone else "
        "an owner there first"
    )
