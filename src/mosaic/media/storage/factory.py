"""The configured blob store, built once per process (the app's lifespan, the worker)."""

from __future__ import annotations

from mosaic.core.settings import MediaBackend, Settings
from mosaic.media.storage.local import LocalBlobStore
from mosaic.media.storage.port import BlobStore
from mosaic.media.storage.s3 import S3BlobStore
from mosaic.media.storage.tokens import BlobTokens

# Where the local store's upload and download routes are mounted (blobs_api).
LOCAL_BLOBS_PATH = "/api/v1/media/blobs"


def build_blob_store(settings: Settings) -> BlobStore:
    """``MOSAIC_MEDIA_BACKEND``'s store."""
    media = settings.media
    if media.media_backend is MediaBackend.S3:
        secret = media.media_s3_secret_access_key
        return S3BlobStore.connect(
            bucket=media.media_s3_bucket,
            region=media.media_s3_region,
            endpoint_url=media.media_s3_endpoint_url,
            access_key_id=media.media_s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
        )
    return LocalBlobStore(
        directory=settings.media_dir,
        tokens=BlobTokens.for_secret(settings.security.secret_key.get_secret_value()),
        url_prefix=LOCAL_BLOBS_PATH,
    )
