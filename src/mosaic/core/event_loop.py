"""The event loop of Mosaic's long-running processes.

uvicorn runs the HTTP workers on uvloop; the background process, ``mosaic worker`` and
``mosaic scheduler`` run on it too. Their work is many small steps (claim a delivery, handle
it, record it, acknowledge it), and asyncio's pure-Python loop spent about half of the
background process's CPU scheduling them. Where uvloop does not exist (Windows, PyPy), they
run on asyncio's own loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, on uvloop when it is installed."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(main)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
