"""Flood limit: a customer writing more than flood.max_messages per flood.per is told once to
slow down; the extra messages are kept in the transcript but not relayed or auto-answered."""

from __future__ import annotations

from bot.chain import Context

__all__ = ["limit"]


async def limit(ctx: Context) -> None:
    cfg, msg = ctx.config.flood, ctx.msg
    if ctx.conversation is None or msg.kind == "event":
        return
    window = int(ctx.now // cfg.per)
    count = await ctx.state.incr(f"flood:{msg.account}:{msg.sender}:{window}", ttl=cfg.per * 2)
    if count <= cfg.max_messages:
        return
    if count == cfg.max_messages + 1 and cfg.notice:
        ctx.tell_customer(ctx.conversation, cfg.notice)
    ctx.done = True
