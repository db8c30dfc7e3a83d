"""Lone writes together: statements that stand alone and whose answer nobody needs (a delivery's
outcome, a message marked handled), issued by many senders and workers at once, go to
PostgreSQL as one `executemany` per statement text: one round trip and one commit for all of
its rows instead of one each (bot.batching, as bot.redis_pipe does for Redis). Each caller still
waits until its own row is committed, and gets the error if it was not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.batching import Batcher, settle
from bot.errors import is_outage

__all__ = ["LoneWrites"]

_Item = tuple[tuple[str, Sequence[Any]], "asyncio.Future[Any]"]  # ((sql, args), its caller's future)


class LoneWrites(Batcher[tuple[str, Sequence[Any]]]):
    name = "storage:lone-writes"

    def __init__(
        self,
        many: Callable[[str, list[Sequence[Any]]], Awaitable[None]],
        one: Callable[[str, Sequence[Any]], Awaitable[None]],
    ):
        super().__init__()
        self._many, self._one = many, one  # all rows of one statement at once; one row alone

    async def write(self, sql: str, args: Sequence[Any]) -> None:
        await self.submit((sql, args))

    async def _send(self, batch: list[_Item]) -> None:
        groups: dict[str, list[_Item]] = {}
        for item in batch:
            groups.setdefault(item[0][0], []).append(item)
        for sql, items in groups.items():
            await self._send_rows(sql, items)

    async def _send_rows(self, sql: str, items: list[_Item]) -> None:
        try:
            if len(items) == 1:
                await self._one(sql, items[0][0][1])
            else:
                await self._many(sql, [args for (_, args), _ in items])
        except Exception as e:
            if len(items) == 1 or is_outage(e):  # the database: every caller in the batch gets it
                for _, fut in items:
                    settle(fut, error=e)
                return
            # one bad row fails its whole batch (all or nothing): each again alone, so only it fails
            for (_, args), fut in items:
                try:
                    await self._one(sql, args)
                except Exception as e1:
                    settle(fut, error=e1)
                else:
                    settle(fut)
            return
        for _, fut in items:
            settle(fut)
