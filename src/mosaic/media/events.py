"""Domain events of media: past-tense facts written to the outbox with the change."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from mosaic.events import DomainEvent


class _MediaEvent(DomainEvent):
    resource_kind: ClassVar[str] = "media"

    legacy_id: UUID | None
    owner_id: UUID


class MediaUploadStarted(_MediaEvent):
    """An upload URL was handed out; the media file is pending until registered."""

    content_type: str
    size_bytes: int


class MediaUploaded(_MediaEvent):
    """The uploaded bytes passed the checks: the media file is ready (processing starts here)."""

    content_type: str
    size_bytes: int
    sha256: str


class MediaProcessed(_MediaEvent):
    """Processing ran once: a thumbnail and the image's facts, or why it failed."""

    succeeded: bool
    error: str | None = None


class MediaDeleted(_MediaEvent):
    """The media file and its blobs are gone."""
