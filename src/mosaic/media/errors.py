"""Errors of the media module, each with its HTTP status and stable code."""

from __future__ import annotations

from mosaic.core.errors import Conflict, Forbidden, MosaicError, NotFound, ValidationFailed


class MediaNotFound(NotFound):
    code = "MEDIA_NOT_FOUND"
    default_message = "The media file was not found"


class LegacyNotFound(NotFound):
    code = "LEGACY_NOT_FOUND"
    default_message = "The legacy was not found"


class UnsupportedContentType(ValidationFailed):
    code = "UNSUPPORTED_CONTENT_TYPE"
    default_message = "This content type cannot be uploaded"


class MediaTooLarge(ValidationFailed):
    code = "MEDIA_TOO_LARGE"
    default_message = "The file is larger than its content type allows"


class ExtensionMismatch(ValidationFailed):
    code = "EXTENSION_MISMATCH"
    default_message = "The file name's extension does not match the content type"


class StorageQuotaExceeded(ValidationFailed):
    code = "STORAGE_QUOTA_EXCEEDED"
    default_message = "This upload would exceed your storage quota"


class UploadMissing(Conflict):
    code = "UPLOAD_MISSING"
    default_message = "Nothing was uploaded for this media file yet"


class MediaAlreadyRegistered(Conflict):
    code = "MEDIA_ALREADY_REGISTERED"
    default_message = "This media file is already registered"


class UploadRejected(ValidationFailed):
    """The uploaded bytes failed a check: the blob and the pending row are gone.

    Raised after the removal was written, so the route answers it without rolling back."""

    code = "UPLOAD_REJECTED"
    default_message = "The uploaded file was rejected"


class UploadSizeMismatch(UploadRejected):
    code = "UPLOAD_SIZE_MISMATCH"
    default_message = "The uploaded file's size is not the size that was declared"


class ContentTypeMismatch(UploadRejected):
    code = "CONTENT_TYPE_MISMATCH"
    default_message = "The uploaded file's content is not of the declared type"


class BlobUrlInvalid(Forbidden):
    code = "BLOB_URL_INVALID"
    default_message = "This upload or download URL is invalid or has expired"


class BlobTooLargeForUrl(MosaicError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = "The upload is larger than the size declared for it"


class BlobAlreadyUploaded(Conflict):
    code = "BLOB_ALREADY_UPLOADED"
    default_message = "A file was already uploaded with this URL"


class BlobContentTypeMismatch(MosaicError):
    status_code = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    default_message = "Send the Content-Type the upload URL was made for"
