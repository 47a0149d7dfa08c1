"""Blob stores behind one port: where media bytes live, and the URLs clients move them with.

``build_blob_store`` picks the configured backend; everything else talks to ``BlobStore``.
"""

from mosaic.media.storage.factory import build_blob_store
from mosaic.media.storage.port import BlobStat, BlobStore, PresignedUpload

__all__ = ["BlobStat", "BlobStore", "PresignedUpload", "build_blob_store"]
