"""What may be uploaded (seed 002, File Upload Security): content types, sizes, extensions, and
whether the bytes really are what was declared (magic bytes, with puremagic)."""

from __future__ import annotations

from pathlib import PurePosixPath

import puremagic

from mosaic.media.errors import ExtensionMismatch, MediaTooLarge, UnsupportedContentType

_MB = 1024 * 1024
# Seed 002: images up to 50 MB, videos up to 500 MB.
MAX_BYTES_BY_FAMILY = {"image": 50 * _MB, "video": 500 * _MB}
MAX_MEDIA_BYTES = max(MAX_BYTES_BY_FAMILY.values())

# Each allowed type and the file name extensions that may carry it.
EXTENSIONS: dict[str, frozenset[str]] = {
    "image/jpeg": frozenset({"jpg", "jpeg", "jpe", "jfif"}),
    "image/png": frozenset({"png"}),
    "image/gif": frozenset({"gif"}),
    "image/webp": frozenset({"webp"}),
    "video/mp4": frozenset({"mp4", "m4v"}),
    "video/quicktime": frozenset({"mov", "qt"}),
}
ALLOWED_CONTENT_TYPES = frozenset(EXTENSIONS)
# How much of the blob's start magic-byte detection looks at.
SNIFF_BYTES = 8192


def max_bytes(content_type: str) -> int:
    return MAX_BYTES_BY_FAMILY.get(content_type.split("/")[0], 0)


def check_declared(*, filename: str, content_type: str, size_bytes: int) -> None:
    """Refuse, before any byte is sent, what could never be accepted."""
    if content_type not in ALLOWED_CONTENT_TYPES:
        raise UnsupportedContentType(
            details={"content_type": content_type, "allowed": sorted(ALLOWED_CONTENT_TYPES)}
        )
    limit = max_bytes(content_type)
    if size_bytes > limit:
        raise MediaTooLarge(details={"size_bytes": size_bytes, "max_bytes": limit})
    extension = PurePosixPath(filename).suffix.lower().removeprefix(".")
    if extension not in EXTENSIONS[content_type]:
        raise ExtensionMismatch(
            details={"extension": extension, "allowed": sorted(EXTENSIONS[content_type])}
        )


def content_matches(head: bytes, content_type: str) -> bool:
    """Whether the blob starting with ``head`` is of ``content_type`` by its magic bytes.

    Any of puremagic's candidates will do: a JPEG also matches as JFIF, a QuickTime file
    as 3GP; what matters is that the declared type is among them.
    """
    try:
        candidates = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        return False
    extensions = EXTENSIONS.get(content_type, frozenset())
    return any(
        candidate.mime_type == content_type
        or candidate.extension.lower().removeprefix(".") in extensions
        for candidate in candidates
    )


def is_image(content_type: str) -> bool:
    return content_type.startswith("image/")
