"""Refuse request bodies over a size limit with 413, whether announced or streamed."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mosaic.core.errors import error_response

# The rest of an oversized body is never read, so the connection cannot be reused.
_CLOSE = {"Connection": "close"}


class BodySizeLimitMiddleware:
    """Answers 413 as soon as the declared or received body exceeds ``max_bytes``.

    ``path_limits`` maps path prefixes to their own limit: the one route that takes a media
    file's bytes (the local blob store's uploads) accepts far more than a JSON body may be.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, path_limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.path_limits = dict(path_limits or {})

    def limit_for(self, path: str) -> int:
        """The body limit of a request to ``path``."""
        for prefix, limit in self.path_limits.items():
            if path.startswith(prefix):
                return limit
        return self.default_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope["path"])
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    response = error_response(400, "BAD_REQUEST", "Invalid Content-Length header")
                    await response(scope, receive, send)
                    return
                if declared > max_bytes:
                    await self._too_large(max_bytes)(scope, receive, send)
                    return
        received = 0
        exceeded = False
        response_started = False
        replaced = False

        async def receive_within_limit() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    exceeded = True
                    # FastAPI re-raises HTTPException from body parsing; the error handlers
                    # render it in the envelope.
                    raise HTTPException(413, self._message(max_bytes), headers=_CLOSE)
            return message

        async def send_413_once_exceeded(message: Message) -> None:
            nonlocal response_started, replaced
            if message["type"] == "http.response.start":
                response_started = True
                if exceeded and message["status"] != 413:
                    # Whoever read the body turned our exception into another answer (a
                    # handler's `except Exception`, a parser wrapping it in a 400): the body
                    # was still too large, and that is what the client must hear.
                    replaced = True
                    await self._too_large(max_bytes)(scope, receive, send)
                    return
            elif replaced:
                return  # the body of the answer replaced above
            await send(message)

        try:
            await self.app(scope, receive_within_limit, send_413_once_exceeded)
        except Exception:
            if not exceeded or response_started:
                raise
            # The exception escaped every handler; the body size is still the real cause.
            await self._too_large(max_bytes)(scope, receive, send)

    def _message(self, max_bytes: int) -> str:
        return f"The request body is larger than the limit of {max_bytes} bytes"

    def _too_large(self, max_bytes: int) -> ASGIApp:
        return error_response(
            413, "PAYLOAD_TOO_LARGE", self._message(max_bytes), headers=dict(_CLOSE)
        )
