"""The worker: takes inbound messages off the bus, runs the chain, queues the deliveries."""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any, Protocol

from loguru import logger

from bot.chain import Context, Rules, run_chain
from bot.model import Delivery, Message

if TYPE_CHECKING:
    from bot.bus import Bus
    from bot.clock import Clock
    from bot.directory import Directory
    from bot.store import Store

__all__ = ["Worker", "WorkerHost", "INBOUND", "OUTBOUND", "delivery_id"]

INBOUND = "inbound"
OUTBOUND = "outbound"


def delivery_id(message_id: str, purpose: str, account: str, to: str, kind: str, nth: int = 1) -> str:
    """The id of the nth delivery of this purpose, account, recipient and kind a message led to:
    the same when the message is handled again after a crash (so it is never recorded twice)."""
    return hashlib.sha1(f"{message_id}:{purpose}:{account}:{to}:{kind}:{nth}".encode()).hexdigest()[:32]


class WorkerHost(Protocol):
    """What the worker uses of the runtime (bot.app.Runtime is one); named here, so no import circle."""

    store: Store
    bus: Bus
    clock: Clock
    directory: Directory
    rules: Rules

    def desk_parts(self) -> dict[str, Any]: ...

    async def record_delivery(self, d: Delivery) -> bool: ...

    async def publish_delivery(self, d: Delivery) -> None: ...


class Worker:
    def __init__(self, runtime: WorkerHost):
        self.rt = runtime
        n = runtime.store.db.units_at_once
        self._slots = asyncio.Semaphore(n) if n else None

    async def handle(self, payload: dict[str, Any]) -> None:
        try:
            msg = Message.from_dict(payload)
        except TypeError:
            logger.error("inbound payload is not a message; dropped: {!r}", payload)
            return
        if self._slots is None:
            await self._handle(msg)
            return
        async with self._slots:
            await self._handle(msg)

    async def _handle(self, msg: Message) -> None:
        rt = self.rt
        role = rt.directory.role(msg.account)
        ctx = Context(**rt.desk_parts(), msg=msg, role=role)
        for step in rt.rules.prepare:
            await step(ctx)
        queued: list[Delivery] = []
        # one transaction for the message: its log, its conversation's changes, its deliveries
        async with rt.store.unit():
            await run_chain(rt.rules.chains[role], ctx)
            seen: dict[tuple[str, ...], int] = {}
            for d in ctx.out:
                key = (d.purpose, d.account, d.to, d.kind)
                seen[key] = seen.get(key, 0) + 1
                d.id = delivery_id(msg.id, *key, nth=seen[key])
                if await rt.record_delivery(d):
                    queued.append(d)
            logged = ctx.logged
            queued[:0] = ctx.resend  # held replies first: the customer reads them before what follows
        # published once committed (the sender must find them); a crash before the message is
        # marked handled replays it from the bus, and its deliveries, still pending, are published then
        for d in queued:
            await rt.publish_delivery(d)
        if logged:
            await rt.store.mark_handled(msg.id, rt.clock.now())
