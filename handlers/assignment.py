"""Queue and assignment: each conversation to one online agent within their capacity.

A new conversation goes to an online agent by the configured policy (round-robin or
least-busy), preferring the agent who served this customer last. Beyond every agent's
capacity, customers wait in a queue, oldest first, and are told where they stand.
"""

from __future__ import annotations

import datetime as dt

from bot.chain import Context, Desk
from bot.config import AgentConfig
from bot.model import Conversation
from handlers import presence

__all__ = ["route", "assign", "fill_queue", "on_agent_online", "pick", "history_lines"]


async def pick(
    desk: Desk, conv: Conversation, exclude: str = "", online: list[AgentConfig] | None = None
) -> AgentConfig | None:
    """An agent with room for the conversation (`online`: who is, when the caller just read it)."""
    if online is None:
        online = await presence.online_agents(desk)
    online = [a for a in online if a.name != exclude]
    load = await desk.store.load()
    free = [a for a in online if load.get(a.name, 0) < a.capacity]
    if not free:
        return None
    cfg = desk.config.assignment
    if cfg.prefer_last_agent:
        last = await desk.store.last_agent_of(conv.account, conv.customer)
        for a in free:
            if a.name == last:
                return a
    if cfg.policy == "least_busy":
        return min(free, key=lambda a: load.get(a.name, 0))  # ties: config order
    names = [a.name for a in desk.config.agents]
    last_rr = await desk.state.get("assignment:last")
    start = names.index(last_rr) + 1 if last_rr in names else 0
    order = names[start:] + names[:start]
    chosen = next(a for n in order for a in free if a.name == n)
    await desk.state.set("assignment:last", chosen.name)
    return chosen


_BY = {"reply": "客服", "faq": "知识库"}  # who said an outbound line of the history


def _clock(ts: float, desk: Desk) -> str:
    from handlers.schedule import schedule_of

    return dt.datetime.fromtimestamp(ts, schedule_of(desk.config).tz).strftime("%m-%d %H:%M")


async def history_lines(desk: Desk, conv: Conversation, limit: int = 10) -> list[str]:
    out = []
    for row in await desk.store.exchange(conv, limit):
        who = conv.customer_name if row["direction"] == "in" else _BY.get(row["purpose"], "自动回复")
        out.append(f"  {_clock(row['created_at'], desk)} {who}: {row['text']}")
    return out


async def assign(
    desk: Desk, conv: Conversation, agent: AgentConfig, *, history: bool = True, note: str = "", announce: bool = True
) -> None:
    """Give the conversation to the agent; tell them (unless `announce` is off), with what was said so far."""
    await desk.store.update_conversation(conv.id, agent=agent.name, queued_at=None, told_position=None)
    conv.agent, conv.queued_at, conv.told_position = agent.name, None, None
    await desk.store.set_current(agent.name, conv.id, desk.now)
    if not announce:
        return
    label = desk.directory.label(conv.account)
    lines = [f"{note or '已为您接入'} #{conv.ticket} {conv.customer_name} ({label})"]
    if history:
        lines += await history_lines(desk, conv)
    desk.tell_agent(agent, "\n".join(lines), conv.id)


async def _notify_positions(desk: Desk, online: list[AgentConfig] | None = None) -> None:
    """Tell waiting customers their place when it has changed materially."""
    cfg, texts = desk.config.assignment, desk.config.messages
    if not cfg.queue_notice or not (online if online is not None else await presence.online_agents(desk)):
        return  # with nobody online the customer already had the no-agent reply
    for i, conv in enumerate(await desk.store.waiting()):
        position, told = i + 1, conv.told_position  # 1: first in line
        material = told is None or (position == 1 and told != 1) or told - position >= cfg.notice_step
        if not material:
            continue
        desk.tell_customer(conv, texts.queue.format(position=position, ahead=position - 1))
        await desk.store.update_conversation(conv.id, told_position=position)


async def fill_queue(desk: Desk, *, history: bool = True) -> None:
    """Give waiting conversations, oldest first, to agents with room; then update positions."""
    for conv in await desk.store.waiting():
        agent = await pick(desk, conv)
        if agent is None:
            break
        await assign(desk, conv, agent, history=history)
    await _notify_positions(desk)


async def on_agent_online(desk: Desk, agent: AgentConfig) -> None:
    """First the messages left while nobody was there, oldest first; then they join the queue."""
    waiting = await desk.store.waiting()
    if waiting:
        desk.tell_agent(agent, f"您上线前共有 {len(waiting)} 位客户留言,按时间先后如下:")
        for conv in waiting:
            label = desk.directory.label(conv.account)
            since = _clock(conv.queued_at or conv.created_at, desk)
            head = f"#{conv.ticket} {conv.customer_name} ({label}) 留言于 {since}"
            desk.tell_agent(agent, "\n".join([head, *await history_lines(desk, conv)]), conv.id)
    await fill_queue(desk, history=False)


async def route(ctx: Context) -> None:
    """Customer chain: keep the conversation with its online agent, give it to one, or queue it."""
    conv, msg = ctx.conversation, ctx.msg
    if conv is None or (msg.kind == "event" and not ctx.hand_over):
        return  # a follow or a menu click opens a conversation; its first message asks for an agent
    online = await presence.online_agents(ctx)
    ctx.online = online
    if conv.agent and any(a.name == conv.agent for a in online):
        return
    if ctx.handed_off:
        return  # a routing rule gave it to a group instead of the desk
    # first routing of this conversation: its first relayed line announces it to the agent;
    # otherwise it had waited or lost its agent, and comes with its history (this message included)
    fresh = not ctx.hand_over and (ctx.new_conversation or (conv.queued_at is None and not conv.agent))
    if conv.agent:  # their agent went offline: the conversation goes back to the desk
        await ctx.store.update_conversation(conv.id, agent="")
        conv.agent = ""
    if conv.queued_at is None:
        conv.queued_at = msg.received_at or ctx.now
        await ctx.store.update_conversation(conv.id, queued_at=conv.queued_at)
    if not online:
        return  # kept as a 留言: the digest brings it to the first agent who comes online
    agent = await pick(ctx, conv, online=online)
    if agent is not None:
        await assign(ctx, conv, agent, announce=not fresh)
        ctx.relayed = not fresh
        return
    await _notify_positions(ctx, online)
