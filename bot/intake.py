"""Callbacks first: the bus's consumers take turns while platform callbacks take much of the loop.

A platform waits for the answer to its callback (WeChat 5 s, then it retries, and after three
tries the customer is told the account cannot serve them); an agent can wait a moment longer
for the message to be relayed. One event loop runs both. While answering callbacks has taken
more than `HEAVY` of the loop's CPU over the last `WINDOW`, the consumers start their next
messages one at a time, a turn apart (all of them together, evenly spaced, so their work never
comes in a clump that callbacks would queue behind): a burst is acknowledged at the intake's
own speed and its backlog worked off right after. The turn is the configured one while the loop
has room; while the loop is busier than `LOOP_FULL` it doubles each window, up to `MAX_TURN`,
and halves back once the loop has room again: a fixed turn let the consumers take what the
callbacks needed (at 1,600 callbacks a second on Redis the callbacks alone took about 80 % of
the loop, and the ack p99 doubled). Under a load that never lets up the desk still takes a
message every `MAX_TURN` at least. Below `HEAVY` nobody waits, so a steady load the desk can
keep up with is relayed as it comes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Intake"]

WINDOW = 0.05  # seconds over which the callbacks' share of the loop is measured
# A share above this: callbacks come faster than the desk could also relay them. On the
# embedded default a callback takes about 0.25 ms of the loop in its handler and relaying its
# message about 1 ms more, so beyond a share of 0.25 / 1.25 = 0.2 a backlog grows whatever the
# order, and answering callbacks first costs the relays nothing; a little above that, a load the
# desk can keep up with is never held back.
HEAVY = 0.25
LOOP_FULL = 0.9  # while heavy and the loop's CPU over a window is above this, the turn lengthens
LOOP_ROOM = 0.75  # and below this it shortens again, down to the configured turn
MAX_TURN = 0.1  # seconds: the longest turn, so the desk takes 10 messages a second however busy


class Intake:
    def __init__(
        self,
        turn: float,
        waited: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        cpu: Callable[[], float] = time.thread_time,
    ):
        self.turn = turn  # the shortest turn (server.callbacks_first)
        self._turn = turn  # the turn now
        self._next = float("-inf")  # loop time of the last turn given
        self._clock, self._cpu = clock, cpu
        self._since = clock()  # the current window's start
        self._loop_since = cpu()  # the loop's CPU clock at the window's start
        self._spent = 0.0  # the loop's CPU seconds while callbacks were in hand, this window
        self._share = 0.0  # their share of the last whole window
        self._last = float("-inf")  # when the last callback was answered
        self._in_hand = 0
        self._began = 0.0  # the loop's CPU clock when the callbacks now in hand began
        self._waited = waited  # told how long each consumer gave way (a metric)

    @contextmanager
    def callback(self) -> Iterator[None]:
        """Around the answering of one platform callback.

        What is counted is the loop's CPU time while callbacks are in hand, not their length:
        a callback that waits on Redis or a platform's API leaves the loop free meanwhile."""
        if not self._in_hand:
            self._measure(self._clock())  # a window left open over a quiet spell closes here
            self._began = self._cpu()
        self._in_hand += 1
        try:
            yield
        finally:
            if self._in_hand == 1:
                now = self._last = self._clock()
                self._measure(now)
            self._in_hand -= 1

    def _measure(self, now: float) -> None:
        """Count the loop's CPU while callbacks are in hand so far, and close the window when due.
        Also while some are still in hand: under load a burst's callbacks overlap without a gap."""
        due = now - self._since >= WINDOW
        if not (self._in_hand or due):
            return
        cpu = self._cpu()
        if self._in_hand:
            self._spent += cpu - self._began
            self._began = cpu
        if due:
            wall = now - self._since
            self._share, busy = self._spent / wall, (cpu - self._loop_since) / wall
            self._spent, self._since, self._loop_since = 0.0, now, cpu
            if self._share <= HEAVY:
                self._turn = self.turn
            elif busy > LOOP_FULL:
                self._turn = min(self._turn * 2, max(MAX_TURN, self.turn))
            elif busy < LOOP_ROOM:
                self._turn = max(self._turn / 2, self.turn)

    def heavy(self) -> bool:
        now = self._clock()
        if not self._in_hand and now - self._last >= WINDOW:
            self._turn, self._next = self.turn, float("-inf")
            return False  # no callback in hand or answered for a whole window: the burst is over
        self._measure(now)
        if self._share > HEAVY:
            return True
        # or a burst is starting: the window so far, once a fifth of it has passed
        so_far = now - self._since
        return so_far >= WINDOW / 5 and self._spent / so_far > HEAVY

    async def give_way(self) -> None:
        """Wait for the next turn if callbacks are taking much of the loop, else return at once.
        A consumer whose turn is far off (turns lengthen while the loop is full) looks again every
        `WINDOW`, and goes as soon as the burst is over: the backlog is then worked off by all
        the consumers at once, not as their turns come."""
        if self.turn <= 0 or not self.heavy():
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._next = due = max(self._next, now) + self._turn
        while (left := due - loop.time()) > 0:
            await asyncio.sleep(min(left, WINDOW))
            if not self.heavy():
                break
        if self._waited is not None:
            self._waited(loop.time() - now)
