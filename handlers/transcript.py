"""Transcript: every inbound message is logged once; a platform's retry ends here."""

from __future__ import annotations

from loguru import logger

from bot.chain import Context

__all__ = ["log_inbound"]


async def log_inbound(ctx: Context) -> None:
    conv_id = ctx.conversation.id if ctx.conversation else None
    outcome = await ctx.store.record_inbound(ctx.msg, conv_id, ctx.now)
    if outcome == "done":
        logger.info("{} message {} was already handled; dropped", ctx.msg.account, ctx.msg.external_id)
        ctx.done = True
        return
    ctx.logged = True
    if outcome == "resume":
        # each try during an outage comes here: the outage itself is what is worth a warning
        logger.info("{} message {}: handling again after an interruption", ctx.msg.account, ctx.msg.external_id)
        return
    if ctx.conversation and not ctx.new_conversation:
        await ctx.store.touch(ctx.conversation.id, ctx.now)
