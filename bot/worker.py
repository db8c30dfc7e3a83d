"""The worker: takes inbound messages off the bus, runs the chain, queues the deliveries."""

from __future__ import annotations

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

    async def handle(self, payload: dict[str, Any]) -> None:
        try:
            msg = Message.from_dict(payload)
        except TypeError:
            logger.error("inbound payload is not a message; dropped: {!r}", payload)
            return
        rt = self.rt
        role = rt.directory.role(msg.account)
        ctx = Context(**rt.desk_parts(), msg=msg, role=role)
        await run_chain(rt.rules.chains[role], ctx)
        for d in ctx.out:
            await self.rt.enqueue_delivery(d)
