"""Greet first: on a follow, and on the first message of a new conversation."""

from __future__ import annotations

from bot.chain import Context
from bot.model import Delivery, Event

__all__ = ["greet"]


async def greet(ctx: Context) -> None:
    msg, conv = ctx.msg, ctx.conversation
    if conv is None or not ctx.config.messages.greeting:
        return
    if ctx.new_conversation or (msg.kind == "event" and msg.event == Event.FOLLOW):
        ctx.send(
            Delivery(
                account=msg.account,
                to=msg.sender,
                text=ctx.config.messages.greeting,
                purpose="greeting",
                conversation_id=conv.id,
            )
        )
