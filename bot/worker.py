"""The worker: takes inbound messages off the bus, runs the chain, queues the deliveries."""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any

from loguru import logger

from bot.chain import Context, run_chain
from bot.model import Message

if TYPE_CHECKING:
    from bot.app import Runtime

__all__ = ["Worker", "INBOUND", "OUTBOUND"]

INBOUND = "inbound"
OUTBOUND = "outbound"


class Worker:
    def __init__(self, runtime: Runtime):
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
        queued = []
        # one transaction for the message: its log, its conversation's changes, its deliveries
        async with rt.store.unit():
            await run_chain(rt.rules.chains[role], ctx)
            seen: dict[str, int] = {}
            for d in ctx.out:
                # the same message handled again after a crash gives the same delivery ids
                base = f"{msg.id}:{d.purpose}:{d.account}:{d.to}:{d.kind}"
                seen[base] = seen.get(base, 0) + 1
                d.id = hashlib.sha1(f"{base}:{seen[base]}".encode()).hexdigest()[:32]
                if await rt.record_delivery(d):
                    queued.append(d)
            logged = ctx.logged
            # in-process bus: the deliveries, pending in this same transaction, are queued again
            # from storage after a crash, so the message is handled once it commits
            if logged and rt.bus.resumed_from_storage:
                await rt.store.mark_handled(msg.id, rt.clock.now())
        # published once committed (the sender must find them); on Redis, a crash before the
        # message is marked handled replays it, and its deliveries, still pending, are published then
        for d in queued:
            await rt.publish_delivery(d)
        if logged and not rt.bus.resumed_from_storage:
            await rt.store.mark_handled(msg.id, rt.clock.now())
