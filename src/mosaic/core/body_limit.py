"""Refuse request bodies over a size limit with 413, whether announced or streamed."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mosaic.core.errors import error_response

# The rest of an oversized body is never read, so the connection cannot be reused.
_CLOSE = {"Connection": "close"}


class BodySizeLimitMiddleware:
    """Answers 413 as soon as the declared or received body exceeds ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    response = error_response(400, "BAD_REQUEST", "Invalid Content-Length header")
                    await response(scope, receive, send)
                    return
                if declared > self.max_bytes:
                    await self._too_large()(scope, receive, send)
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
                if received > self.max_bytes:
                    exceeded = True
                    # FastAPI re-raises HTTPException from body parsing; the error handlers
                    # render it in the envelope.
                    raise HTTPException(413, self._message(), headers=_CLOSE)
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
                    await self._too_large()(scope, receive, send)
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
            await self._too_large()(scope, receive, send)

    def _message(self) -> str:
        return f"The request body is larger than the limit of {self.max_bytes} bytes"

    def _too_large(self) -> ASGIApp:
        return error_response(413, "PAYLOAD_TOO_LARGE", self._message(), headers=dict(_CLOSE))
