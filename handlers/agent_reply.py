"""Agents' replies: `#1024 text` goes to ticket 1024; plain text to the agent's current conversation.

Only configured agents reach customers; anything else written to a desk account stays internal.
"""

from __future__ import annotations

import re

from loguru import logger

from bot.chain import Context
from bot.config import AgentConfig
from bot.model import Conversation, Delivery
from handlers import assignment

__all__ = ["resolve", "reply", "send_reply", "parse_ticket"]

_TICKET = re.compile(r"^\s*[#＃](\d{1,9})\s*(.*)$", re.S)


def parse_ticket(text: str) -> tuple[int | None, str]:
    """'#1024 您好' -> (1024, '您好'); '您好' -> (None, '您好')."""
    m = _TICKET.match(text)
    if not m:
        return None, text.strip()
    return int(m.group(1)), m.group(2).strip()


async def resolve(ctx: Context) -> None:
    """Find who wrote and which conversation it is for; nothing is sent here."""
    msg = ctx.msg
    ctx.agent = ctx.directory.agent_at(msg.account, msg.sender)
    if ctx.agent is None:
        logger.warning("{}: {} is not a configured agent; their message stays internal", msg.account, msg.sender)
        return
    ticket, _ = parse_ticket(msg.text)
    quoted = await ctx.store.conversation_of_forward(msg.account, msg.reply_to) if msg.reply_to else None
    if ticket is not None:
        ctx.conversation = await ctx.store.by_ticket(ticket)
    elif quoted is not None:  # a quote of kefu's forwarded message answers that conversation
        ctx.conversation = await ctx.store.conversation(quoted)
        ctx.flags["quoted"] = True
    elif msg.chat:
        ctx.flags["internal"] = True  # in a group only a #ticket reaches a customer; the rest is chatter
    else:
        current = await ctx.store.current_of(ctx.agent.name)
        ctx.conversation = await ctx.store.conversation(current) if current else None


async def reply(ctx: Context) -> None:
    msg, agent, conv = ctx.msg, ctx.agent, ctx.conversation
    if agent is None or msg.kind == "event":
        return
    texts = ctx.config.messages
    ticket, body = parse_ticket(msg.text)
    if body.startswith(("/", "／")) or ctx.flags.get("internal"):
        return  # a command after a ticket ("#1024 /close"), or group chatter: never relayed
    if conv is None or conv.status != "open":
        note = texts.unknown_ticket.format(ticket=ticket) if ticket is not None else texts.no_current
        ctx.tell_agent(agent, note)
        return
    if ticket is None and not ctx.flags.get("quoted") and conv.agent not in ("", agent.name):
        ctx.tell_agent(agent, f"#{conv.ticket} 已由 {conv.agent} 接待;如需回复请写明工单号。")
        return
    if ctx.flags.get("held"):
        return  # the quality check held it and told the agent why
    body = ctx.flags.get("reply_text", body)
    if msg.kind == "text" and not body:
        return
    if msg.kind == "image":
        media = str(msg.data.get("media_id", ""))
        await send_reply(
            ctx, agent, conv, "", kind="image", media=media, media_from=msg.account, receipt=ticket is None
        )
    else:
        await send_reply(ctx, agent, conv, body, receipt=ticket is None)


async def send_reply(
    ctx: Context,
    agent: AgentConfig,
    conv: Conversation,
    text: str,
    *,
    kind: str = "text",
    media: str = "",
    media_from: str = "",
    receipt: bool = False,
) -> None:
    """An agent's answer to the customer (`receipt`: tell the agent which ticket it reached)."""
    if not conv.agent:  # answering a waiting customer takes them
        await assignment.assign(ctx, conv, agent, announce=False)
    ctx.send(
        Delivery(
            account=conv.account,
            to=conv.customer,
            text=text,
            kind="image" if kind == "image" else "text",
            media=media,
            media_from=media_from,
            purpose="reply",
            conversation_id=conv.id,
            agent=agent.name,
            receipt=receipt,
        )
    )
    await ctx.store.set_current(agent.name, conv.id, ctx.now)
    ctx.conversation = conv
    ctx.flags["replied"] = True
