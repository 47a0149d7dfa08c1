"""Thumbnails and metadata of uploaded images, with Pillow.

Pure functions over bytes: the media consumer reads the blob, calls these in a worker thread
and stores the results. Location (GPS) tags are deliberately not extracted: they say where a
family lives, and nothing in Mosaic needs them.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

THUMBNAIL_CONTENT_TYPE = "image/webp"
THUMBNAIL_BOX = (512, 512)
# Refuse images whose pixel count could exhaust memory while decoding (decompression bombs);
# 100 megapixels is beyond any phone camera and far below what a worker can hold.
MAX_PIXELS = 100_000_000

_EXIF_TEXT_TAGS = {"Make": "camera_make", "Model": "camera_model", "Software": "software"}


class UnreadableImage(Exception):
    """The bytes are not an image Pillow can decode safely."""


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    width: int
    height: int
    content_type: str = THUMBNAIL_CONTENT_TYPE


@dataclass(frozen=True)
class ImageFacts:
    """What processing learnt about an image: its size, format and a few EXIF facts."""

    width: int
    height: int
    format: str
    metadata: dict[str, Any]


def process_image(data: bytes) -> tuple[Thumbnail, ImageFacts]:
    """A thumbnail (WebP, within 512x512, upright) and the image's facts."""
    image = _open(data)
    facts = ImageFacts(
        width=image.width,
        height=image.height,
        format=(image.format or "unknown").lower(),
        metadata=_exif_metadata(image),
    )
    return _thumbnail(image), facts


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its own limit; ours is the limit.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise UnreadableImage(f"image has more than {MAX_PIXELS} pixels")
            image.load()
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        ValueError,
    ) as error:
        raise UnreadableImage(str(error)) from error
    return image


def _thumbnail(image: Image.Image) -> Thumbnail:
    # The first frame of an animation; turned upright by its EXIF orientation.
    upright = ImageOps.exif_transpose(image)
    if upright.mode not in ("RGB", "RGBA"):
        upright = upright.convert("RGBA" if "transparency" in upright.info else "RGB")
    upright.thumbnail(THUMBNAIL_BOX)
    out = io.BytesIO()
    upright.save(out, format="WEBP", quality=80, method=4)
    return Thumbnail(data=out.getvalue(), width=upright.width, height=upright.height)


def _exif_metadata(image: Image.Image) -> dict[str, Any]:
    exif = image.getexif()
    found: dict[str, Any] = {}
    named = {ExifTags.TAGS.get(tag, str(tag)): value for tag, value in exif.items()}
    for tag, key in _EXIF_TEXT_TAGS.items():
        value = named.get(tag)
        if isinstance(value, str) and value.strip():
            found[key] = _printable(value)
    orientation = named.get("Orientation")
    if isinstance(orientation, int):
        found["orientation"] = orientation
    taken = exif.get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.DateTimeOriginal)
    if isinstance(taken, str):
        parsed = _exif_time(taken)
        if parsed is not None:
            found["taken_at"] = parsed
    return found


def _exif_time(value: str) -> str | None:
    """EXIF's ``YYYY:MM:DD HH:MM:SS`` (no time zone) as ISO 8601, or None when malformed."""
    try:
        # A camera keeps local time without a zone: reported as the naive local time it is.
        taken = datetime.strptime(value.strip("\x00 "), "%Y:%m:%d %H:%M:%S")  # noqa: DTZ007
        return taken.isoformat()
    except ValueError:
        return None


def _printable(value: str) -> str:
    # EXIF text is attacker-controlled: keep it short and free of control characters.
    return "".join(ch for ch in value if ch.isprintable())[:100].strip()
