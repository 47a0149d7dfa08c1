"""The port erasure deletes media bytes through, and where the application keeps it.

The media package puts its blob store on ``app.state.blob_store``; anything with an
``async delete(key)`` will do, so erasure depends on the port, not on S3 or the file system.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Protocol

import structlog
from fastapi import Depends, Request

logger = structlog.get_logger(__name__)


class BlobRemover(Protocol):
    async def delete(self, key: str) -> None:
        """Delete the blob stored under ``key``; deleting a missing blob is not an error."""
        ...


async def _blob_remover(request: Request) -> BlobRemover | None:
    remover: BlobRemover | None = getattr(request.app.state, "blob_store", None)
    return remover


BlobRemoverDep = Annotated[BlobRemover | None, Depends(_blob_remover)]


async def delete_blobs(remover: BlobRemover, keys: Sequence[str]) -> None:
    """Delete ``keys`` one by one after the rows are gone; a failure is logged (with the key,
    never the owner) and the rest still go, so one unreachable blob leaves no others behind."""
    for key in keys:
        try:
            await remover.delete(key)
        except Exception:
            logger.exception("erased_blob_not_deleted", storage_key=key)
