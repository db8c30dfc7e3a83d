"""Calls issued while a batch is on its way go together in the next one.

The shape of automatic pipelining (bot.redis_pipe, Redis commands) and of lone writes
(bot.lone_writes, PostgreSQL statements): nothing waits for company. A call made while no batch
is on its way goes out on the next turn of the loop, with whatever else was issued in the same
turn; what is issued while a batch is on its way goes with the next one. Each caller waits for
its own answer, and gets the error if there is one.
"""

from __future__ import annotations

import asyncio
from typing import Any, Generic, TypeVar

__all__ = ["Batcher", "settle"]

T = TypeVar("T")


class Batcher(Generic[T]):
    limit = 256  # items per batch
    name = "batch"  # of the flushing task

    def __init__(self) -> None:
        self._queue: list[tuple[T, asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def submit(self, item: T) -> asyncio.Future[Any]:
        """The item's answer, to await (a future, not a coroutine: one frame less a call)."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((item, fut))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name=self.name)
        return fut

    async def drain(self) -> None:
        """Wait for what was issued so far to be sent (before the connection closes)."""
        while (flusher := self._flusher) is not None:
            await asyncio.wait([flusher])  # its failures are its callers' to see

    async def _send(self, batch: list[tuple[T, asyncio.Future[Any]]]) -> None:
        """Send the batch and settle every future in it."""
        raise NotImplementedError

    async def _flush(self) -> None:
        batch: list[tuple[T, asyncio.Future[Any]]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue[: self.limit], self._queue[self.limit :]
                await self._send(batch)
        except BaseException as e:  # cancelled (shutting down), or a bug: no caller may wait forever
            for _, fut in batch + self._queue:
                settle(fut, error=ConnectionError(f"{self.name}: not sent ({type(e).__name__}: {e})"))
            self._queue = []
            raise
        finally:
            self._flusher = None


def settle(fut: asyncio.Future[Any], result: Any = None, error: BaseException | None = None) -> None:
    if fut.done():  # the caller was cancelled
        return
    if error is None:
        fut.set_result(result)
    else:
        fut.set_exception(error)
