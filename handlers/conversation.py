"""Conversations: one customer on one inbox, from first contact to close, with a short ticket."""

from __future__ import annotations

from bot.chain import Context
from bot.model import Event

__all__ = ["find_or_start", "CONTACT_EVENTS"]

# Events that mean the customer reached out; the others (Event.OTHER: location reports, ...) only get logged.
CONTACT_EVENTS = frozenset({Event.FOLLOW, Event.SCAN, Event.MENU_CLICK, Event.SESSION_ENTERED})


def fallback_name(user_id: str) -> str:
    return f"客户{user_id[-4:]}" if user_id else "客户"


async def find_or_start(ctx: Context) -> None:
    msg = ctx.msg
    if not ctx.conversation_read:  # the survey's rule reads it for a text, with what it needs
        ctx.conversation = await ctx.store.open_conversation(msg.account, msg.sender)
    if msg.kind == "event" and msg.event == Event.UNFOLLOW:
        if ctx.conversation:  # they can no longer be written to
            await ctx.store.close_conversation(ctx.conversation.id, ctx.now)
        return
    if ctx.conversation and ctx.conversation.unreachable and (msg.kind != "event" or msg.event in CONTACT_EVENTS):
        # they wrote: the platform's reply window is open again
        await ctx.store.update_conversation(ctx.conversation.id, unreachable="")
        ctx.conversation.unreachable = ""
    if ctx.conversation and ctx.conversation.opened_by == msg.id:
        ctx.new_conversation = True  # its opening message, handled again after an interruption
    if ctx.conversation or (msg.kind == "event" and msg.event not in CONTACT_EVENTS):
        return
    name = msg.sender_name or await ctx.display_name(msg.account, msg.sender) or fallback_name(msg.sender)
    ctx.conversation = await ctx.store.start_conversation(msg.account, msg.sender, name, ctx.now, msg.id)
    ctx.new_conversation = True
