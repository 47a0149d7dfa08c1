"""The cheapest HTTP server Python can run: a fixed answer to every request.

wrk is pointed at it to show the load generator's own ceiling on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import cast

import uvloop

_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
    b"Connection: keep-alive\r\n\r\nok"
)


class FixedAnswer(asyncio.Protocol):
    """Answer each request (GETs without bodies) as soon as its headers end."""

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport does not subclass asyncio.Transport, but is one.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        complete = self._buffer.count(b"\r\n\r\n")
        if complete and self._transport is not None:
            self._buffer = self._buffer[self._buffer.rindex(b"\r\n\r\n") + 4 :]
            self._transport.write(_RESPONSE * complete)


async def serve(port: int) -> None:
    """Serve on 127.0.0.1:``port`` until killed."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FixedAnswer, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
