"""Lone writes together: statements that stand alone and whose answer nobody needs (a delivery's
outcome, a message marked handled), issued by many senders and workers at once, go to
PostgreSQL as one `executemany` per statement text: one round trip and one commit for all of
its rows instead of one each. The same idea as bot.redis_pipe for Redis.

Nothing waits for company: a write issued while no batch is on its way goes out on the next
turn of the loop, with whatever else was issued in the same turn; what is issued while a batch
is on its way goes out with the next one. Each caller still waits until its own row is
committed, and gets the error if it was not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.errors import is_outage

__all__ = ["LoneWrites"]

_Item = tuple[str, Sequence[Any], "asyncio.Future[None]"]


class LoneWrites:
    limit = 256  # rows per batch

    def __init__(
        self,
        many: Callable[[str, list[Sequence[Any]]], Awaitable[None]],
        one: Callable[[str, Sequence[Any]], Awaitable[None]],
    ):
        self._many, self._one = many, one  # all rows of one statement at once; one row alone
        self._queue: list[_Item] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, sql: str, args: Sequence[Any]) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((sql, args, fut))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="storage:lone-writes")
        await fut

    async def drain(self) -> None:
        """Wait for what was issued so far to be written (before the database closes)."""
        while (flusher := self._flusher) is not None:
            await asyncio.wait([flusher])  # its failures are its callers' to see

    async def _flush(self) -> None:
        batch: list[_Item] = []
        try:
            while self._queue:
                batch, self._queue = self._queue[: self.limit], self._queue[self.limit :]
                groups: dict[str, list[_Item]] = {}
                for item in batch:
                    groups.setdefault(item[0], []).append(item)
                for sql, items in groups.items():
                    await self._send(sql, items)
        except BaseException as e:  # cancelled (shutting down): no caller may wait forever
            for *_, fut in batch + self._queue:
                _settle(fut, ConnectionError(f"storage: write not finished ({type(e).__name__})"))
            self._queue = []
            raise
        finally:
            self._flusher = None

    async def _send(self, sql: str, items: list[_Item]) -> None:
        try:
            if len(items) == 1:
                await self._one(sql, items[0][1])
            else:
                await self._many(sql, [args for _, args, _ in items])
        except Exception as e:
            if len(items) == 1 or is_outage(e):  # the database: every caller in the batch gets it
                for *_, fut in items:
                    _settle(fut, e)
                return
            # one bad row fails its whole batch (all or nothing): each again alone, so only it fails
            for _, args, fut in items:
                try:
                    await self._one(sql, args)
                except Exception as e1:
                    _settle(fut, e1)
                else:
                    _settle(fut, None)
            return
        for *_, fut in items:
            _settle(fut, None)


def _settle(fut: asyncio.Future[None], error: BaseException | None) -> None:
    if fut.done():  # the caller was cancelled
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(error)
