"""The local blob store: files under the data directory, moved through Mosaic's own URLs.

Uploads and downloads go through ``PUT``/``GET /api/v1/media/blobs/{token}`` (``blobs_api``),
so a development machine or a single server needs no object store; the signed token plays the
part of S3's presigned URL.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import anyio

from mosaic.media.storage.port import BlobStat, PresignedUpload
from mosaic.media.storage.tokens import BlobGrant, BlobOperation, BlobTokens

_CHUNK_BYTES = 64 * 1024


class BlobTooLarge(Exception):
    """An upload sent more bytes than its URL allows."""


class BlobExists(Exception):
    """An upload URL was used again after its upload finished: blobs are written once."""


class InvalidKey(ValueError):
    """A key that would leave the store's directory."""


@dataclass(frozen=True)
class LocalBlobStore:
    directory: Path
    tokens: BlobTokens
    url_prefix: str  # where blobs_api is mounted, e.g. /api/v1/media/blobs
    bucket: str = "local"
    backend: str = "local"

    async def presign_put(
        self, key: str, *, content_type: str, size_bytes: int, expires_in: int
    ) -> PresignedUpload:
        token = self._token(BlobOperation.PUT, key, content_type, expires_in, size_bytes)
        return PresignedUpload(
            url=f"{self.url_prefix}/{token}", method="PUT", headers={"Content-Type": content_type}
        )

    async def presign_get(self, key: str, *, content_type: str, expires_in: int) -> str:
        return f"{self.url_prefix}/{self._token(BlobOperation.GET, key, content_type, expires_in)}"

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        async def one_chunk() -> AsyncIterator[bytes]:
            yield data

        await self.receive(key, one_chunk(), max_bytes=len(data), replace=True)

    async def receive(
        self, key: str, chunks: AsyncIterator[bytes], *, max_bytes: int, replace: bool = False
    ) -> int:
        """Write an upload, refusing more than ``max_bytes``; the blob appears whole or not at
        all (written aside, then linked in place). Returns the bytes written.

        Without ``replace`` an existing blob is kept (``BlobExists``): an upload URL stays
        valid for minutes, and must not swap the bytes of a file already checked."""
        path = self.path_of(key)
        await anyio.Path(path.parent).mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid4().hex}.partial")
        written = 0
        try:
            async with await anyio.open_file(partial, "wb") as out:
                async for chunk in chunks:
                    written += len(chunk)
                    if written > max_bytes:
                        raise BlobTooLarge()
                    await out.write(chunk)
            if replace:
                await anyio.Path(partial).rename(path)
            else:
                # A hard link fails when the name exists, atomically: two uploads racing
                # with one URL cannot both win.
                try:
                    await anyio.Path(path).hardlink_to(partial)
                except FileExistsError:
                    raise BlobExists() from None
        finally:
            await anyio.Path(partial).unlink(missing_ok=True)
        return written

    async def read(self, key: str) -> bytes:
        return await anyio.Path(self.path_of(key)).read_bytes()

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        async with await anyio.open_file(self.path_of(key), "rb") as source:
            while chunk := await source.read(_CHUNK_BYTES):
                yield chunk

    async def stat(self, key: str) -> BlobStat | None:
        try:
            found = await anyio.Path(self.path_of(key)).stat()
        except FileNotFoundError:
            return None
        return BlobStat(size_bytes=found.st_size)

    async def delete(self, key: str) -> None:
        await anyio.Path(self.path_of(key)).unlink(missing_ok=True)

    def path_of(self, key: str) -> Path:
        """The file of ``key``; keys are ours, but a path never escapes the directory."""
        parts = key.split("/")
        if not key or any(part in ("", ".", "..") or os.sep in part for part in parts):
            raise InvalidKey(key)
        return self.directory.joinpath(*parts)

    def grant(self, token: str, *, op: BlobOperation) -> BlobGrant:
        """What ``token`` allows (``InvalidBlobToken`` when tampered or expired)."""
        return self.tokens.verify(token, op=op, now=time.time())

    def _token(
        self, op: BlobOperation, key: str, content_type: str, expires_in: int, max_bytes: int = 0
    ) -> str:
        self.path_of(key)  # refuse a bad key when the URL is made, not when it is used
        grant = BlobGrant(
            op=op,
            key=key,
            content_type=content_type,
            expires_at=int(time.time()) + expires_in,
            max_bytes=max_bytes,
        )
        return self.tokens.issue(grant)
