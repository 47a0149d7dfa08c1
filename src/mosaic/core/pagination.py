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
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Depends, Query
from pydantic import BaseModel

from mosaic.core.dependencies import SettingsDep
from mosaic.core.errors import InvalidCursor

T = TypeVar("T")
Row = TypeVar("Row")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_SIGNATURE_BYTES = 12


class PageInfo(BaseModel):
    limit: int
    next_cursor: str | None
    has_more: bool


class Page(BaseModel, Generic[T]):
    """The list envelope."""

    data: list[T]
    pagination: PageInfo


@dataclass(frozen=True)
class CursorCodec:
    """Encodes the last id of a page as an opaque, tamper-evident token."""

    secret: bytes

    def encode(self, last_id: UUID) -> str:
        payload = last_id.bytes
        signature = hmac.new(self.secret, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
        return base64.urlsafe_b64encode(payload + signature).rstrip(b"=").decode()

    def decode(self, cursor: str) -> UUID:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise InvalidCursor() from None
        payload, signature = raw[:16], raw[16:]
        expected = hmac.new(self.secret, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
        if len(payload) != 16 or not hmac.compare_digest(signature, expected):
            raise InvalidCursor()
        return UUID(bytes=payload)


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
        return Page[Any](
            data=[to_item(row) for row in visible],
            pagination=PageInfo(limit=self.limit, next_cursor=next_cursor, has_more=has_more),
        )


def _page_request(
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page")
    ] = None,
) -> PageRequest:
    codec = CursorCodec(settings.security.secret_key.get_secret_value().encode())
    return PageRequest(limit=limit, after=codec.decode(cursor) if cursor else None, codec=codec)


PageParams = Annotated[PageRequest, Depends(_page_request)]
