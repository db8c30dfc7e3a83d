"""Lanes: a partition's messages run one key at a time, in order, and different keys side by side.

Outbound deliveries are keyed by recipient: a platform that takes 10 s to answer one of them
holds up only that recipient's later messages, never another recipient's or another account's.
A topic without lanes runs everything in one lane: the partition's order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["Lanes"]

T = TypeVar("T")


class Lanes(Generic[T]):
    """`run(item)` for each item put, in order per key; False from `run` stops every lane (the
    item and those behind it stay unfinished, for whoever serves the partition next)."""

    def __init__(self, run: Callable[[T], Awaitable[bool]], limit: int = 1000):
        self._run = run
        self._room = asyncio.Semaphore(limit)  # items read but not finished, across lanes
        self._queues: dict[str, deque[T]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.stopped = False

    async def put(self, key: str, item: T) -> None:
        """Queue the item behind its key's earlier ones (waits while `limit` items are in hand)."""
        await self._room.acquire()
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
        queue.append(item)
        if key not in self._tasks:
            self._tasks[key] = asyncio.create_task(self._lane(key, queue), name=f"lane:{key[:40]}")

    async def _lane(self, key: str, queue: deque[T]) -> None:
        try:
            while queue and not self.stopped:
                if not await self._run(queue[0]):
                    self.stopped = True
                    break
                queue.popleft()
                self._room.release()
        finally:
            del self._tasks[key]
            if not queue:
                self._queues.pop(key, None)

    @property
    def size(self) -> int:
        """Items put and not yet finished (those in hand included)."""
        return sum(len(q) for q in self._queues.values())

    def stop(self) -> None:
        """Start nothing new; what a lane has in hand finishes."""
        self.stopped = True

    async def join(self) -> None:
        """Wait for every lane to end (after `stop`, once the items in hand are done)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def cancel(self) -> None:
        self.stopped = True
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
