"""Request and response shapes of the media API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from mosaic.models import MediaState


def _printable(value: str) -> str:
    if not value.isprintable() or "/" in value or "\\" in value:
        raise ValueError("must be a file name without control characters or slashes")
    return value


FileName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(_printable),
]  # fmt: skip


class MediaPresign(BaseModel):
    """What is about to be uploaded; type and size are checked before any byte is sent."""

    model_config = ConfigDict(extra="forbid")

    legacy_id: UUID
    filename: FileName
    content_type: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    size_bytes: int = Field(ge=1, description="The exact size of the file, in bytes")


class MediaRegister(BaseModel):
    """Sent once the upload finished: the bytes are checked and the media becomes ready."""

    model_config = ConfigDict(extra="forbid")

    media_id: UUID


class UploadInstructions(BaseModel):
    """Send the file's bytes as the body of ``method`` ``url`` with exactly ``headers``."""

    url: str
    method: str
    headers: dict[str, str]
    expires_at: datetime


class MediaRead(BaseModel):
    id: UUID
    legacy_id: UUID | None
    owner_id: UUID
    filename: str
    content_type: str
    size_bytes: int
    state: MediaState
    sha256: str | None
    width: int | None = None
    height: int | None = None
    image_metadata: dict[str, Any] | None = None
    processed_at: datetime | None = None
    # Why processing failed (an unreadable image), when it did.
    processing_error: str | None = None
    created_at: datetime
    # Signed and short-lived: fetch the media again for fresh ones.
    thumbnail_url: str | None = None
    download_url: str | None = None


class MediaPresigned(BaseModel):
    media: MediaRead
    upload: UploadInstructions
