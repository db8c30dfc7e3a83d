"""Replies held while the platform's reply window was closed go out when the customer writes again.

The sender holds an agent's reply the platform refused because the customer has not written for
too long (WeChat's 48 hours); the customer's next message opens the window, and the held replies
go out first, in the order they were written, once: those of an earlier conversation of theirs,
closed meanwhile, too.
"""

from __future__ import annotations

from bot.chain import Context
from bot.model import TICKET_BASE
from handlers.conversation import CONTACT_EVENTS

__all__ = ["release"]


async def release(ctx: Context) -> None:
    conv, msg = ctx.conversation, ctx.msg
    if conv is None or conv.status != "open" or (msg.kind == "event" and msg.event not in CONTACT_EVENTS):
        return
    held = await ctx.store.release_held(conv, msg.id, ctx.now)
    if not held:
        return
    told: dict[tuple[str, int], int] = {}  # (agent, conversation) -> how many of theirs
    for d in held:
        d.receipt = True  # the agent hears when each one has arrived
        key = (d.agent, d.conversation_id or conv.id)
        told[key] = told.get(key, 0) + 1
    ctx.resend.extend(held)
    for (name, conv_id), count in told.items():
        agent = ctx.directory.agent(name)
        if agent is not None:
            text = ctx.config.messages.held_released.format(
                ticket=conv_id + TICKET_BASE, customer=conv.customer_name, count=count
            )
            ctx.tell_agent(agent, text, conv_id)
