"""When the timed rules run: at the next stored timer's due time, and at least every
timers.sweep for the rules that keep no stored time (idle agents, shift end, the daily report).
Between the two the process sleeps: an idle desk costs nothing but that one wake-up."""

from __future__ import annotations

import asyncio

from bot.clock import Clock

__all__ = ["Ticker"]


class Ticker:
    def __init__(self, clock: Clock, tick: float, sweep: float):
        self.clock = clock
        self.tick = tick  # the shortest time between two runs
        self.sweep = max(sweep, tick)
        self._at = clock.now() + self.tick
        self._changed = asyncio.Event()

    def plan(self, next_timer: float | None) -> None:
        """After a run: the next one at the earliest stored timer, or a sweep from now."""
        now = self.clock.now()
        at = now + self.sweep
        if next_timer is not None:
            at = min(at, max(next_timer, now + self.tick))
        self._at = at

    def retry(self) -> None:
        """A run failed (storage away): try again a tick from now."""
        self._at = self.clock.now() + self.tick

    def timer_added(self, due_at: float) -> None:
        """A timer stored by this process: run when it falls due, if that is sooner than planned
        (a tick from now at the soonest, so the unit that stored it has committed)."""
        at = max(due_at, self.clock.now() + self.tick)
        if at < self._at:
            self._at = at
            self._changed.set()

    async def wait(self) -> None:
        """Until the planned run is due (a timer added meanwhile may bring it forward)."""
        while (delay := self._at - self.clock.now()) > 0:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), delay)
            except TimeoutError:
                return  # (a clock that stands still, in tests, lets the sleep end it)
