"""The embedded bus: in-process queues, each entry first written to kefu's database.

What a webhook acknowledged is on disk before the platform hears "success", and is dropped
from it once handled: a restart, even after `kill -9`, handles what was left, in order.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from loguru import logger

from bot.bus.base import PARTITIONS, Bus, Handler, partition_of
from bot.errors import BusUnavailable, is_outage
from bot.lanes import Lanes

if TYPE_CHECKING:
    from bot.store import Store

__all__ = ["MemoryBus"]

_Entry = tuple[int | None, str]  # (its row in the database, or None when kept in memory only; the payload)


class MemoryBus(Bus):
    def __init__(self, store: Store | None = None, partitions: int = PARTITIONS):
        super().__init__(partitions)
        self.store = store  # None: nothing kept across a restart (tools and tests that want that)
        self._queues: dict[tuple[str, int], asyncio.Queue[tuple[str, _Entry]]] = {}
        self._lanes: dict[tuple[str, int], Lanes[_Entry]] = {}  # each partition's entries taken off its queue

    def _q(self, topic: str, p: int) -> asyncio.Queue[tuple[str, _Entry]]:
        q = self._queues.get((topic, p))
        if q is None:  # not setdefault: that would build a queue on every publish
            q = self._queues[(topic, p)] = asyncio.Queue()
        return q

    async def publish(self, topic: str, key: str, payload: dict[str, Any]) -> None:
        # serialized like the Redis engine, so both engines carry exactly the same data
        raw = json.dumps(payload, ensure_ascii=False)
        p, lane = partition_of(key, self.partitions), self.lane_of(topic, key)
        entry_id = None
        if self.store is not None:
            try:
                entry_id = await self.store.put_entry(topic, p, lane, raw)
            except Exception as e:
                if not is_outage(e):
                    raise
                raise BusUnavailable(f"storage: {e}") from e  # the webhook answers an error: the platform retries
        self._q(topic, p).put_nowait((lane, (entry_id, raw)))

    async def start(self) -> None:
        """Queue again what the last run left unhandled, before anything new."""
        if self.store is not None:
            rows = await self.store.entries()
            for row in rows:
                self._q(row["topic"], row["partition"]).put_nowait((row["lane"], (row["id"], row["payload"])))
            if rows:
                logger.info("{} bus entries left unhandled by the last run are queued again", len(rows))
        await super().start()

    async def close(self, grace: float = 2.0) -> None:
        """Let the messages in hand finish, then stop; what was not begun stays on disk."""
        self._stopping.set()
        for lanes in self._lanes.values():
            lanes.stop()
        try:
            await asyncio.wait_for(asyncio.gather(*(lanes.join() for lanes in self._lanes.values())), grace)
        except TimeoutError:
            pass  # cancelled below
        await super().close(grace=0)

    async def _consume(self, topic: str, partition: int, handler: Handler) -> None:
        q = self._q(topic, partition)

        async def run(entry: _Entry) -> bool:
            entry_id, raw = entry
            if not await self._handle(topic, handler, json.loads(raw)):
                return False  # unfinished (stopping): kept on disk for the next run
            if entry_id is not None:
                await self._drop(entry_id)
            return True

        lanes = self._lanes[(topic, partition)] = Lanes(run)
        try:
            while True:
                lane, entry = await q.get()
                if self._stopping.is_set():
                    break  # not begun: on disk for the next run
                await lanes.put(lane, entry)
        finally:
            await lanes.cancel()  # stopping past its grace: what is in hand stays on disk

    async def _drop(self, entry_id: int) -> None:
        """Handled: off the disk. Through an outage it is tried again; handled twice it would be a
        duplicate the transcript drops, so stopping meanwhile loses nothing."""
        delay = 0.2
        while True:
            try:
                assert self.store is not None
                await self.store.drop_entry(entry_id)
                return
            except Exception as e:
                if not is_outage(e) or self._stopping.is_set():
                    logger.warning("bus entry {} stays on disk ({}); it is handled again at start", entry_id, e)
                    return
                self.outages.down(e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def pending(self, topic: str) -> int:
        queued = sum(q.qsize() for (t, _), q in self._queues.items() if t == topic)
        return queued + sum(lanes.size for (t, _), lanes in self._lanes.items() if t == topic)
