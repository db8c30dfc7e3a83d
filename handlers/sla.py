"""The 1-minute rule: a customer's message unanswered past sla.first_response gets one
"请稍候" and the desk a reminder; past sla.escalate_after, the supervisors' group is alerted.

Timers are rows in storage, claimed atomically when due: a restart neither loses nor
doubles them, and several kefu processes fire each one once.
"""

from __future__ import annotations

from loguru import logger

from bot.chain import Context, Desk
from handlers import presence

__all__ = ["start_clock", "stop_clock", "fire_due", "FIRST_RESPONSE", "ESCALATE"]

FIRST_RESPONSE, ESCALATE = "first_response", "escalate"


def _waited(seconds: float) -> str:
    return f"{int(seconds)} 秒" if seconds < 120 else f"{int(seconds // 60)} 分钟"


async def start_clock(ctx: Context) -> None:
    """Customer chain: the first unanswered message starts the clock (only while agents are online)."""
    conv, msg = ctx.conversation, ctx.msg
    if conv is None or msg.kind == "event" or not ctx.flags.get("online") or conv.waiting_since is not None:
        return
    if ctx.flags.get("handed_off") and not conv.agent:
        return  # a group took it, not the desk
    since = msg.received_at or ctx.now
    conv.waiting_since = since
    await ctx.store.update_conversation(conv.id, waiting_since=since)
    sla = ctx.config.sla
    await ctx.store.add_timer(FIRST_RESPONSE, conv.id, since + sla.first_response, since)
    if sla.escalate_after and sla.escalate_to:
        await ctx.store.add_timer(ESCALATE, conv.id, since + sla.escalate_after, since)


async def stop_clock(ctx: Context) -> None:
    """Desk chain: an agent's reply reached the customer's conversation: the clock stops."""
    conv = ctx.conversation
    if conv is None or not ctx.flags.get("replied"):
        return
    values = {"waiting_since": None, "last_agent_at": ctx.now}
    if conv.first_reply_at is None:
        values["first_reply_at"] = ctx.now
        if ctx.metrics is not None and conv.waiting_since is not None:
            ctx.metrics.first_response.observe(max(0.0, ctx.now - conv.waiting_since))
    await ctx.store.update_conversation(conv.id, **values)
    await ctx.store.cancel_timers(conv.id)


async def fire_due(desk: Desk) -> None:
    """Timer tick: act on every due timer this process wins."""
    for timer in await desk.store.due_timers(desk.now):
        if not await desk.store.claim_timer(timer["id"], desk.now):
            continue
        conv = await desk.store.conversation(timer["conversation_id"])
        if conv is None or conv.status != "open" or conv.waiting_since != timer["marker"]:
            continue  # answered or closed meanwhile
        waited = _waited(desk.now - conv.waiting_since)
        texts = desk.config.messages
        label = desk.directory.label(conv.account)
        if timer["kind"] == FIRST_RESPONSE:
            if desk.metrics is not None:
                desk.metrics.sla_breaches.inc()
            desk.tell_customer(conv, texts.please_wait)
            note = texts.desk_reminder.format(ticket=conv.ticket, customer=conv.customer_name, waited=waited)
            agent = desk.directory.agent(conv.agent) if conv.agent else None
            targets = [agent] if agent else await presence.online_agents(desk)
            for a in targets:
                desk.tell_agent(a, note, conv.id)
            logger.info("#{}: no answer within {}; customer asked to wait, desk reminded", conv.ticket, waited)
        elif timer["kind"] == ESCALATE and desk.config.sla.escalate_to:
            text = texts.escalation.format(
                ticket=conv.ticket,
                customer=conv.customer_name,
                channel=label,
                waited=waited,
                agent=conv.agent or "未分配",
            )
            desk.tell_group(desk.config.sla.escalate_to, text, conv.id)
            logger.warning("#{}: unanswered for {}; escalated", conv.ticket, waited)
