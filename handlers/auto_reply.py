"""Auto-replies when nobody can answer: outside service hours (on a holiday, its own text), or in
hours with no agent online.

At most once per conversation per messages.auto_reply_interval, and never while an agent
is actively answering it (answered within that interval).
"""

from __future__ import annotations

from bot.chain import Context
from handlers.schedule import schedule_of

__all__ = ["auto_reply", "off_hours_text"]


def off_hours_text(ctx: Context) -> str:
    """The weekly hours and the next opening; on a holiday, the holiday text (the hours would cover today)."""
    sched = schedule_of(ctx.config)
    texts = ctx.config.messages
    text = texts.holiday if sched.is_holiday(ctx.now) else texts.off_hours
    return text.format(hours=sched.describe_hours(), next_open=sched.describe_next(ctx.now))


async def auto_reply(ctx: Context) -> None:
    conv, msg = ctx.conversation, ctx.msg
    if conv is None or (msg.kind == "event" and not ctx.hand_over) or ctx.online:
        return
    interval = ctx.config.messages.auto_reply_interval
    if conv.last_agent_at is not None and ctx.now - conv.last_agent_at < interval:
        return  # an agent is answering this customer right now
    if conv.auto_replied_at is not None and ctx.now - conv.auto_replied_at < interval:
        return
    is_open = schedule_of(ctx.config).is_open(ctx.now)
    ctx.tell_customer(conv, ctx.config.messages.no_agent if is_open else off_hours_text(ctx))
    conv.auto_replied_at = ctx.now
    await ctx.store.update_conversation(conv.id, auto_replied_at=ctx.now)
