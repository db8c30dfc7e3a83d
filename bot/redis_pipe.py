"""Automatic pipelining: Redis commands issued in the same turn of the event loop (by many
webhook requests and bus consumers at once) go to Redis as one pipeline (bot.batching).

A command alone in redis-py's asyncio client costs about 115 us of CPU; in a pipeline of 30,
about 26 us (measured on the benchmark's machine). Only commands that answer at once belong
here: a blocking read (XREADGROUP BLOCK) would hold up every command queued behind it.

The batches go out on a connection of the pipeline's own, written and read directly, not
through redis-py's Pipeline: that takes a connection from the pool under a lock, builds a
Pipeline object and applies a response callback to every reply, which cost as much as the
round trip itself for the one to four commands a batch mostly holds (109 against 53 us for
one SET, 152 against 104 for four). Replies come back raw (bytes, ints, lists), as callers
here read them; an error reply fails only its own command.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError

from bot.batching import Batcher, settle

__all__ = ["AutoPipeline"]


class AutoPipeline(Batcher[tuple[Any, ...]]):
    name = "redis:autopipeline"

    def __init__(self, redis: Any):
        super().__init__()
        self.redis = redis
        self._shas: dict[str, str] = {}  # script text -> its SHA1
        pool = redis.connection_pool  # the client's settings (address, timeouts), not its connections
        settings = pool.connection_kwargs
        # one timeout around a whole batch instead of redis-py's per write and per reply (a task
        # for each write): a quarter to a third of a small batch's cost
        self.timeout = settings.get("socket_timeout") or 5.0
        self._conn = pool.connection_class(**{**settings, "socket_timeout": None})  # connects when first used

    async def execute(self, *command: Any) -> Any:
        """One command (`"SET", key, value, "NX"`), sent with whatever else is issued meanwhile."""
        return await self.submit(command)

    async def script(self, text: str, keys: list[str], args: list[Any]) -> Any:
        """A Lua script by its SHA (loaded on first NOSCRIPT, as after a Redis restart)."""
        sha = self._shas.get(text)
        if sha is None:
            sha = self._shas[text] = hashlib.sha1(text.encode()).hexdigest()
        try:
            return await self.execute("EVALSHA", sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.redis.script_load(text)
            return await self.execute("EVALSHA", sha, len(keys), *keys, *args)

    async def _send(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        conn, replies = self._conn, []
        try:
            async with asyncio.timeout(self.timeout):
                await conn.send_packed_command(conn.pack_commands([c for c, _ in batch]), check_health=False)
                for _ in batch:
                    try:
                        replies.append(await conn.read_response())
                    except ResponseError as e:  # the command's own error reply: the others stand
                        replies.append(e)
        except BaseException as e:
            # replies may be left unread: the next batch starts on a fresh connection
            await conn.disconnect(nowait=True)
            if not isinstance(e, Exception):
                raise  # cancelled: the flusher fails every caller (bot.batching)
            if not isinstance(e, RedisError):  # the batch's own timeout: Redis's, as the callers must tell
                err = RedisConnectionError(f"redis: {type(e).__name__} {e}".strip())
                err.__cause__ = e
                e = err
            for _, fut in batch:  # the connection: every caller in the batch gets it
                settle(fut, error=e)
            return
        for (_, fut), reply in zip(batch, replies, strict=True):
            if isinstance(reply, Exception):
                settle(fut, error=reply)
            else:
                settle(fut, reply)

    async def close(self) -> None:
        """Send what was issued, then close the connection."""
        await self.drain()
        await self._conn.disconnect()
