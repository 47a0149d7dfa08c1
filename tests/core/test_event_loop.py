"""Long-running processes run on uvloop, and on asyncio's own loop where uvloop is missing."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from mosaic.core import event_loop


async def _loop_type() -> type[asyncio.AbstractEventLoop]:
    return type(asyncio.get_running_loop())


def test_a_long_running_process_runs_on_uvloop() -> None:
    assert event_loop.run(_loop_type()) is uvloop.Loop


def test_without_uvloop_it_runs_on_asyncios_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError

    loop_type = event_loop.run(_loop_type())

    assert loop_type is not uvloop.Loop
    assert issubclass(loop_type, asyncio.BaseEventLoop)
