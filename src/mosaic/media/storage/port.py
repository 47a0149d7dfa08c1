"""The blob store port: the operations media needs from any storage backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class PresignedUpload:
    """How a client uploads one blob: send ``method`` to ``url`` with exactly ``headers``.

    A local store's URL is a path on Mosaic itself (the API makes it absolute).
    """

    url: str
    method: str = "PUT"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BlobStat:
    size_bytes: int


class BlobStore(Protocol):
    """Keys are chosen by Mosaic (``{tenant}/{media}/…``), never by a client."""

    @property
    def backend(self) -> str:
        """Stored on each row: "local" or "s3"."""
        ...

    @property
    def bucket(self) -> str:
        """The bucket (or "local") the keys live in, stored on each row."""
        ...

    async def presign_put(
        self, key: str, *, content_type: str, size_bytes: int, expires_in: int
    ) -> PresignedUpload:
        """A URL to upload at most ``size_bytes`` of ``content_type`` to ``key``."""
        ...

    async def presign_get(self, key: str, *, content_type: str, expires_in: int) -> str:
        """A URL to download ``key`` until it expires."""
        ...

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store ``data`` at ``key`` (derivatives such as thumbnails)."""
        ...

    async def read(self, key: str) -> bytes:
        """The whole blob; ``FileNotFoundError`` when there is none."""
        ...

    def stream(self, key: str) -> AsyncIterator[bytes]:
        """The blob in chunks, for blobs too large to hold; ``FileNotFoundError`` when absent."""
        ...

    async def stat(self, key: str) -> BlobStat | None:
        """The blob's size, or None when there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob; removing a missing blob is not an error (erasure retries)."""
        ...
