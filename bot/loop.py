"""The event loop kefu runs on: uvloop (libuv's loop, the same asyncio API, a fraction of the
loop's own CPU per request) where it installs, asyncio's own loop elsewhere (Windows).

One place decides it for `kefu` itself, the tests and the benchmark's bare baseline."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["new_event_loop", "run"]

T = TypeVar("T")

try:
    import uvloop
except ImportError:  # pragma: no cover (Windows)
    uvloop = None


def new_event_loop() -> asyncio.AbstractEventLoop:
    return uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on kefu's loop."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
