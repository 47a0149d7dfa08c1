"""Cursor pagination: stable order by id, opaque signed cursors, one list envelope::

{"data": [...], "pagination": {"limit": 20, "next_cursor": "...", "has_more": true}}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Generic, TypeVar
from uuid import UUID

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Integer, literal_column

from mosaic.core.dependencies import SettingsDep
from mosaic.core.errors import InvalidCursor

T = TypeVar("T")
Row = TypeVar("Row")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_UUID_BYTES = 16
_SIGNATURE_BYTES = 12
_KEY_PURPOSE = b"mosaic/pagination-cursor/v1"
# Real cursors are 38 characters; anything much longer is not worth decoding.
_MAX_CURSOR_CHARS = 64


class PageInfo(BaseModel):
    limit: int
    next_cursor: str | None
    has_more: bool


class Page(BaseModel, Generic[T]):
    """The list envelope."""

    data: list[T]
    pagination: PageInfo


def inline_limit(limit: int) -> ColumnElement[int]:
    """``limit`` for ``Select.limit``, written into the SQL instead of bound as a parameter.

    A list query runs as a prepared statement. With ``LIMIT $n`` PostgreSQL cannot cost the
    generic plan (it assumes a tenth of the rows will be read), finds it dearer than a plan
    made for the actual values, and so plans the statement again on every execution: for a
    page of stories under the authorization filter that was a third of PostgreSQL's CPU per
    request (docs/benchmarks.md). With the number in the text there is one statement per page
    size, planned once.
    """
    return literal_column(str(int(limit)), Integer)


@dataclass(frozen=True)
class CursorCodec:
    """Encodes the last id of a page as an opaque, tamper-evident token."""

    key: bytes

    @classmethod
    def for_secret(cls, secret: str) -> CursorCodec:
        """A codec keyed by a cursor-only key derived from the application secret.

        Deriving a key per purpose means a value signed for one use (a cursor) can never be
        passed off as a value signed for another, even though both come from one secret.
        """
        return cls(hmac.new(secret.encode(), _KEY_PURPOSE, hashlib.sha256).digest())

    def encode(self, last_id: UUID) -> str:
        """The cursor that resumes after ``last_id``."""
        payload = last_id.bytes
        return base64.urlsafe_b64encode(payload + self._sign(payload)).rstrip(b"=").decode()

    def decode(self, cursor: str) -> UUID:
        """The id a cursor resumes after; ``InvalidCursor`` unless this codec signed it."""
        if len(cursor) > _MAX_CURSOR_CHARS:
            raise InvalidCursor()
        try:
            # validate=True: refuse characters outside the alphabet instead of skipping them,
            # so only the exact token handed out is accepted.
            raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise InvalidCursor() from None
        if len(raw) != _UUID_BYTES + _SIGNATURE_BYTES:
            raise InvalidCursor()
        payload, signature = raw[:_UUID_BYTES], raw[_UUID_BYTES:]
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidCursor()
        return UUID(bytes=payload)

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self.key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


@dataclass(frozen=True)
class PageRequest:
    """What the caller asked for: how many, and after which id."""

    limit: int
    after: UUID | None
    codec: CursorCodec

    def page(
        self, rows: Sequence[Row], to_item: Callable[[Row], T], id_of: Callable[[Row], UUID]
    ) -> Page[T]:
        """Shape ``rows`` (fetched with ``limit + 1``) into the list envelope."""
        has_more = len(rows) > self.limit
        visible = rows[: self.limit]
        next_cursor = self.codec.encode(id_of(visible[-1])) if has_more and visible else None
        # The bare generic, not ``Page[Any]``: a parametrised class is built anew whenever the
        # last one was collected, and the response model only re-checks the envelope's type.
        return Page(
            data=[to_item(row) for row in visible],
            pagination=PageInfo(limit=self.limit, next_cursor=next_cursor, has_more=has_more),
        )


# Derived once per secret, not per request (an HMAC over the purpose).
_codec_for = lru_cache(maxsize=4)(CursorCodec.for_secret)


async def _page_request(
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = DEFAULT_LIMIT,
    # No max_length here: every cursor that is not ours, long ones included, is INVALID_CURSOR.
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> PageRequest:
    codec = _codec_for(settings.security.secret_key.get_secret_value())
    # "?cursor=" is a cursor that was mangled on the way, not a request for the first page.
    after = codec.decode(cursor) if cursor is not None else None
    return PageRequest(limit=limit, after=after, codec=codec)


PageParams = Annotated[PageRequest, Depends(_page_request)]
