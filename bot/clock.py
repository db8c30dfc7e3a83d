"""The one clock everything reads, so tests can set the time."""

from __future__ import annotations

import time

__all__ = ["Clock", "FixedClock"]


class Clock:
    """Wall-clock time in unix seconds."""

    def now(self) -> float:
        return time.time()


class FixedClock(Clock):
    """A clock that only moves when told to (tests, demos)."""

    def __init__(self, start: float):
        self.t = float(start)

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds
