"""Media rows as the API shows them, with short-lived signed URLs to their blobs."""

from __future__ import annotations

from urllib.parse import urljoin

from mosaic.core.settings import MediaSettings
from mosaic.media.schemas import MediaRead
from mosaic.media.storage import BlobStore
from mosaic.media.thumbnails import THUMBNAIL_CONTENT_TYPE
from mosaic.media.upload_rules import is_image
from mosaic.models import Media, MediaState


async def media_read(
    media: Media,
    *,
    store: BlobStore,
    settings: MediaSettings,
    origin: str,
    with_download: bool,
) -> MediaRead:
    """``media`` with a thumbnail URL when there is a thumbnail, and a download URL when
    asked for and the file is ready. A local store's URLs are paths on Mosaic: made absolute
    against ``origin``; a bucket's URLs already are."""
    ttl = settings.media_download_url_ttl_seconds
    read = MediaRead.model_validate(media, from_attributes=True)
    if media.thumbnail_key and is_image(media.content_type):
        url = await store.presign_get(
            media.thumbnail_key, content_type=THUMBNAIL_CONTENT_TYPE, expires_in=ttl
        )
        read.thumbnail_url = urljoin(origin, url)
    if with_download and media.state is MediaState.READY:
        url = await store.presign_get(
            media.storage_key, content_type=media.content_type, expires_in=ttl
        )
        read.download_url = urljoin(origin, url)
    return read


def without_urls(read: MediaRead) -> bytes:
    """The representation minus its URLs, which change at every request: what the ETag of
    a media file is computed over."""
    return read.model_dump_json(exclude={"thumbnail_url", "download_url"}).encode()
