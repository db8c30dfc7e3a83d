"""What both bus engines share: topics split into partitions by key, so one conversation's
messages stay in order; a message handled until it is done or an outage is waited out."""

from __future__ import annotations

import asyncio
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from loguru import logger

from bot.errors import LeaseLost, is_outage
from bot.outage import Outages

__all__ = ["Bus", "Handler", "Guard", "TAKEN", "DUPLICATE", "REFUSED", "partition_of", "Lease", "lease_held", "LEASE"]

Handler = Callable[[dict[str, Any]], Awaitable[None]]
PARTITIONS = 8


TAKEN, DUPLICATE, REFUSED = "taken", "duplicate", "refused"  # what publish_once did


@dataclass(frozen=True)
class Guard:
    """A key that must be absent (it is then set to `value` for `ttl` seconds) or already hold
    `value`, checked in the same step as publishing: a signature that may come again only with
    the same body (a platform whose signature does not cover the body)."""

    key: str
    value: str
    ttl: float


def partition_of(key: str, partitions: int = PARTITIONS) -> int:
    return zlib.crc32(key.encode()) % partitions


class Lease:
    """This process's hold on one partition, as far as it can tell: renewed apart from the work,
    trusted only until the last renewal's expiry (less a margin), and lost for good once Redis
    says another process holds it."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self.valid_until = time.monotonic() + ttl * 0.8  # just acquired
        self.lost = False
        self.ended = False  # the consumer is done with it: its renewals stop

    def renewed(self, asked_at: float) -> None:
        """Redis extended it by `ttl` at some moment after `asked_at` (monotonic)."""
        self.valid_until = asked_at + self.ttl * 0.8

    def held(self) -> bool:
        return not self.lost and time.monotonic() < self.valid_until


LEASE: ContextVar[Lease | None] = ContextVar("kefu_bus_lease", default=None)


def lease_held() -> bool:
    """Does the process still serve the partition the message in hand came from? Checked before
    every platform send: a process that lost it stops, and the new owner does the work once."""
    lease = LEASE.get()
    return lease is None or lease.held()


class Bus(ABC):
    """Publish payloads to a topic by key; consume each partition in order, one at a time."""

    def __init__(self, partitions: int = PARTITIONS):
        self.partitions = partitions
        self._handlers: dict[str, Handler] = {}
        self._laned: set[str] = set()  # topics whose keys run side by side (bot.lanes)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._idle: dict[str, int] = {}  # topic -> messages taken but not yet handled
        self._marks: dict[str, tuple[str, float]] = {}  # publish_once's marks and guards: (value, expiry)
        self.outages = Outages()  # the runtime's, shared with the rest of the process

    def subscribe(self, topic: str, handler: Handler, *, lanes: bool = False) -> None:
        """`lanes`: messages of different keys in one partition are handled side by side (each
        key still in order); otherwise one partition's messages are handled one at a time."""
        self._handlers[topic] = handler
        if lanes:
            self._laned.add(topic)

    def lane_of(self, topic: str, key: str) -> str:
        return key if topic in self._laned else ""

    @abstractmethod
    async def publish(self, topic: str, key: str, payload: dict[str, Any]) -> None:
        """Store the payload durably (as the engine allows) or raise BusUnavailable."""

    async def publish_once(
        self, topic: str, key: str, payload: dict[str, Any], mark: str, ttl: float, guard: Guard | None = None
    ) -> str:
        """Publish unless `mark` was set within `ttl` seconds (a platform retry: DUPLICATE) or
        the guard holds another value (REFUSED); TAKEN when published.

        Marking and publishing are one step: a crash between them cannot leave a message marked
        as seen but never stored, which would make the platform's retry look like a duplicate.
        """
        now = asyncio.get_running_loop().time()
        if guard is not None:
            value, until = self._marks.get(guard.key, ("", 0.0))
            if until <= now:
                self._marks[guard.key] = (guard.value, now + guard.ttl)
            elif value != guard.value:
                return REFUSED
        if self._marks.get(mark, ("", 0.0))[1] > now:
            return DUPLICATE
        await self.publish(topic, key, payload)
        self._marks[mark] = ("1", now + ttl)
        if len(self._marks) > 100_000:
            self._marks = {k: v for k, v in self._marks.items() if v[1] > now}
        return TAKEN

    @abstractmethod
    async def _consume(self, topic: str, partition: int, handler: Handler) -> None: ...

    async def start(self) -> None:
        for topic, handler in self._handlers.items():
            for p in range(self.partitions):
                task = asyncio.create_task(self._consume(topic, p, handler), name=f"bus:{topic}:{p}")
                self._tasks.add(task)
                task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() and not self._stopping.is_set():
            logger.opt(exception=task.exception()).error("bus consumer {} died", task.get_name())

    async def _handle(self, topic: str, handler: Handler, payload: dict[str, Any]) -> bool:
        """Handle one message; False if it must stay on the bus (unfinished: to be handled again).

        A bad message is logged and skipped, so it cannot block the partition. Redis or the
        database being down is waited out, the same message tried again with backoff: handling
        is resumable, so nothing is lost and nothing done twice.
        """
        delay, failed = 0.2, ""
        while True:
            if not lease_held():
                return False  # another process took the partition over; it will handle the message
            try:
                await handler(payload)
                if failed == "storage":  # every handling writes to storage; Redis's return the bus sees itself
                    self.outages.up(failed)
                return True
            except LeaseLost:
                return False
            except Exception as e:
                if not is_outage(e):
                    logger.exception("handler for {} failed on one message; it is skipped", topic)
                    return True
                failed = self.outages.down(e)
            if self._stopping.is_set():
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    @abstractmethod
    async def pending(self, topic: str) -> int:
        """Messages published to the topic and not yet handled."""

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every topic has nothing pending (tests and demo use this)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        quiet = 0
        while loop.time() < end:
            counts = [await self.pending(t) for t in self._handlers]
            quiet = quiet + 1 if not any(counts) else 0
            if quiet >= 3:  # handlers publish onward; be sure nothing was added meanwhile
                return
            await asyncio.sleep(0.02)
        raise TimeoutError("the bus did not drain in time")

    async def close(self, grace: float = 2.0) -> None:
        """Stop consuming: let each consumer finish the message in hand, then cancel what is left."""
        self._stopping.set()
        tasks = list(self._tasks)
        if tasks:
            _, left = await asyncio.wait(tasks, timeout=grace) if grace else (set(), set(tasks))
            for t in left:
                t.cancel()
            await asyncio.gather(*left, return_exceptions=True)
