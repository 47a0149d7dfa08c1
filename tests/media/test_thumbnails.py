"""Thumbnails and image facts, from real images made with Pillow."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from mosaic.media.thumbnails import MAX_PIXELS, UnreadableImage, process_image


def _image_bytes(size: tuple[int, int], fmt: str, *, exif: Image.Exif | None = None) -> bytes:
    image = Image.new("RGB", size, (200, 120, 40))
    out = io.BytesIO()
    if exif is not None:
        image.save(out, format=fmt, exif=exif)
    else:
        image.save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_a_thumbnail_fits_the_box_and_keeps_the_aspect_ratio(fmt: str) -> None:
    thumbnail, facts = process_image(_image_bytes((2000, 1000), fmt))

    assert (facts.width, facts.height, facts.format) == (2000, 1000, fmt.lower())
    assert (thumbnail.width, thumbnail.height) == (512, 256)
    decoded = Image.open(io.BytesIO(thumbnail.data))
    assert decoded.format == "WEBP"
    assert decoded.size == (512, 256)


def test_a_small_image_is_not_enlarged() -> None:
    thumbnail, _ = process_image(_image_bytes((100, 80), "PNG"))

    assert (thumbnail.width, thumbnail.height) == (100, 80)


def test_exif_orientation_is_applied_and_camera_facts_are_kept_without_location() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x010F] = "Canon\x07"  # Make, with a control character
    exif[0x0110] = "EOS 5D"  # Model
    exif.get_ifd(0x8769)[0x9003] = "2019:07:14 16:03:59"  # DateTimeOriginal
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)  # GPSLatitude

    thumbnail, facts = process_image(_image_bytes((400, 200), "JPEG", exif=exif))

    assert (thumbnail.width, thumbnail.height) == (200, 400)
    assert facts.metadata == {
        "camera_make": "Canon",
        "camera_model": "EOS 5D",
        "orientation": 6,
        "taken_at": "2019-07-14T16:03:59",
    }


def test_bytes_that_are_not_an_image_are_refused() -> None:
    with pytest.raises(UnreadableImage):
        process_image(b"%PDF-1.7 definitely not an image")


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    side = int(MAX_PIXELS**0.5) + 10
    bomb = io.BytesIO()
    Image.new("1", (side, side)).save(bomb, format="PNG")  # tiny file, huge canvas

    with pytest.raises(UnreadableImage):
        process_image(bomb.getvalue())
