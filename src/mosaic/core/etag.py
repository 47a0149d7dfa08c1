"""Entity tags on reads: every successful JSON ``GET`` carries a strong ``ETag`` computed from
its body (and ``Cache-Control: private, no-cache`` unless the route set its own), and a
matching ``If-None-Match`` gets ``304 Not Modified`` without the body."""

from __future__ import annotations

import hashlib

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def etag_for(body: bytes) -> str:
    """A strong validator for a representation."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def if_none_match_matches(header: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of ``If-None-Match`` against ``etag``."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == bare for candidate in header.split(","))


class ETagMiddleware:
    """Adds ``ETag`` to successful JSON ``GET`` responses and answers ``If-None-Match``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # GET only: a HEAD response has no body, so hashing it would tag every resource alike.
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if_none_match = Headers(scope=scope).get("if-none-match")
        start: Message | None = None
        chunks: list[bytes] = []
        passthrough = False

        async def buffering_send(message: Message) -> None:
            nonlocal start, passthrough
            if passthrough:
                await send(message)
                return
            if message["type"] == "http.response.start":
                headers = Headers(raw=message["headers"])
                cacheable = (
                    message["status"] == 200
                    and headers.get("content-type", "").startswith("application/json")
                    and "etag" not in headers
                )
                if not cacheable:
                    passthrough = True
                    await send(message)
                    return
                start = message
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            assert start is not None
            body = b"".join(chunks)
            etag = etag_for(body)
            headers = MutableHeaders(scope=start)
            headers["ETag"] = etag
            if "cache-control" not in headers:
                # Answers depend on the caller's credential: no shared cache may keep them,
                # and a private one must revalidate (cheaply, with the ETag) before reuse.
                headers["Cache-Control"] = "private, no-cache"
            if if_none_match_matches(if_none_match, etag):
                start["status"] = 304
                for name in ("content-length", "content-type"):
                    if name in headers:
                        del headers[name]
                await send(start)
                await send({"type": "http.response.body", "body": b""})
                return
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffering_send)
