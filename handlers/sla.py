"""The 1-minute rule: a customer's message unanswered past sla.first_response gets one
"请稍候" and the desk a reminder; past sla.escalate_after, the supervisors' group is alerted.

In service hours with nobody online the clock runs too: the customer is asked to wait, and the
supervisors' group is told that customers wait and nobody is online, in one notice covering the
whole queue, repeated at most once per sla.escalate_after while nobody comes online.

Timers are rows in storage, claimed atomically when due: a restart neither loses nor
doubles them, and several kefu processes fire each one once.
"""

from __future__ import annotations

from loguru import logger

from bot.chain import Context, Desk
from bot.config import AgentConfig
from bot.model import Conversation
from handlers import presence
from handlers.schedule import schedule_of

__all__ = ["start_clock", "stop_clock", "fire_due", "FIRST_RESPONSE", "ESCALATE"]

FIRST_RESPONSE, ESCALATE = "first_response", "escalate"
NOBODY_ONLINE_AT = "sla:nobody_online_at"  # kv: when the last nobody-online notice went out


def _waited(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)} 秒"
    return f"{int(seconds // 60)} 分钟" if seconds < 7200 else f"{int(seconds // 3600)} 小时"


async def start_clock(ctx: Context) -> None:
    """Customer chain: the first unanswered message starts the clock (agents online, or in service hours)."""
    conv, msg = ctx.conversation, ctx.msg
    if conv is None or msg.kind == "event" or conv.waiting_since is not None:
        return
    if not ctx.online and not schedule_of(ctx.config).is_open(ctx.now):
        return  # nobody online out of hours: the off-hours text is the answer
    if ctx.handed_off and not conv.agent:
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
    if conv is None or not ctx.replied:
        return
    values = {"waiting_since": None, "last_agent_at": ctx.now}
    if conv.first_reply_at is None:
        values["first_reply_at"] = ctx.now
        if ctx.metrics is not None and conv.waiting_since is not None:
            ctx.metrics.first_response.observe(max(0.0, ctx.now - conv.waiting_since))
    await ctx.store.update_conversation(conv.id, **values)
    await ctx.store.cancel_timers(conv.id)


async def fire_due(desk: Desk) -> None:
    """Timer tick: act on every due timer this process wins; then tell the supervisors if
    customers wait in service hours and nobody is online."""
    online: list[AgentConfig] | None = None
    for timer in await desk.store.due_timers(desk.now):
        if not await desk.store.claim_timer(timer["id"], desk.now):
            continue
        conv = await desk.store.conversation(timer["conversation_id"])
        if conv is None or conv.status != "open" or conv.waiting_since != timer["marker"]:
            continue  # answered or closed meanwhile
        if online is None:
            online = await presence.online_agents(desk)
        if not online and not schedule_of(desk.config).is_open(desk.now):
            continue  # the desk closed meanwhile: the off-hours text stands
        if timer["kind"] == FIRST_RESPONSE:
            await _first_response(desk, conv, online)
        elif timer["kind"] == ESCALATE and desk.config.sla.escalate_to and (online or conv.agent):
            _escalate(desk, conv)  # (nobody online, in the queue: the nobody-online notice covers it)
    await _nobody_online(desk, online)


async def _first_response(desk: Desk, conv: Conversation, online: list[AgentConfig]) -> None:
    if desk.metrics is not None:
        desk.metrics.sla_breaches.inc()
    texts = desk.config.messages
    waited = _waited(desk.now - (conv.waiting_since or desk.now))
    desk.tell_customer(conv, texts.please_wait)
    note = texts.desk_reminder.format(ticket=conv.ticket, customer=conv.customer_name, waited=waited)
    agent = desk.directory.agent(conv.agent) if conv.agent else None
    for a in [agent] if agent else online:
        desk.tell_agent(a, note, conv.id)
    logger.info("#{}: no answer within {}; customer asked to wait, desk reminded", conv.ticket, waited)


def _escalate(desk: Desk, conv: Conversation) -> None:
    waited = _waited(desk.now - (conv.waiting_since or desk.now))
    text = desk.config.messages.escalation.format(
        ticket=conv.ticket,
        customer=conv.customer_name,
        channel=desk.directory.label(conv.account),
        waited=waited,
        agent=conv.agent or "未分配",
    )
    desk.tell_group(desk.config.sla.escalate_to, text, conv.id)
    logger.warning("#{}: unanswered for {}; escalated", conv.ticket, waited)


async def _nobody_online(desk: Desk, online: list[AgentConfig] | None) -> None:
    """In service hours, nobody online, and a queued customer has waited past sla.first_response
    within these hours: one notice for the whole queue, at most once per sla.escalate_after."""
    sla, now = desk.config.sla, desk.now
    window = schedule_of(desk.config).current_window(now)
    if not sla.escalate_to or window is None:
        return
    if online is None:
        online = await presence.online_agents(desk)
    if online:
        return
    waiting = await desk.store.waiting()
    opened = window[0].timestamp()  # a 留言 left overnight counts from the opening
    if not any(now - max(c.queued_at or now, opened) >= sla.first_response for c in waiting):
        return
    last = await desk.store.get_value(NOBODY_ONLINE_AT)
    if last is not None and now - float(last) < (sla.escalate_after or sla.first_response):
        return
    # processes ticking at once read the same `last`: the one that adds this key sends the notice
    if not await desk.state.add(f"{NOBODY_ONLINE_AT}:{last}", ttl=60):
        return
    await desk.store.set_value(NOBODY_ONLINE_AT, repr(now), now)
    oldest = waiting[0]
    text = desk.config.messages.nobody_online.format(
        count=len(waiting),
        ticket=oldest.ticket,
        customer=oldest.customer_name,
        waited=_waited(now - (oldest.queued_at or now)),
    )
    desk.tell_group(sla.escalate_to, text)
    logger.warning("{} customers waiting in service hours and nobody online; supervisors told", len(waiting))
