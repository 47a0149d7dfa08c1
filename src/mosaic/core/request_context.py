"""The request id of the request being served, readable anywhere in its task."""

from __future__ import annotations

import re
from contextvars import ContextVar

from mosaic.core.ids import new_id

REQUEST_ID_HEADER = "X-Request-ID"
# Safe to echo in headers and logs: no spaces, quotes or control characters, bounded length.
_ACCEPTABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_request_id: ContextVar[str | None] = ContextVar("mosaic_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request in progress, if any."""
    return _request_id.get()


def accept_request_id(offered: str | None) -> str:
    """Keep a caller's well-formed ``X-Request-ID``; otherwise mint a new one."""
    # fullmatch, not match with "$": "$" also matches before a trailing newline.
    if offered and _ACCEPTABLE_REQUEST_ID.fullmatch(offered):
        return offered
    return new_id().hex


def bind_request_id(request_id: str) -> object:
    """Make ``request_id`` current; returns the token to restore the previous one."""
    return _request_id.set(request_id)


def reset_request_id(token: object) -> None:
    """Restore the request id that was current before ``bind_request_id``."""
    _request_id.reset(token)  # type: ignore[arg-type]
