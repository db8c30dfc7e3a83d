"""Agents' replies: `#1024 text` goes to ticket 1024; plain text to the agent's current conversation.

Only configured agents reach customers; anything else written to a desk account stays internal.
A customer receives only text, and pictures where both accounts can carry them (bot.adapter
abilities); anything else an agent writes goes nowhere, and the agent is told what to do instead.
"""

from __future__ import annotations

import re

from loguru import logger

from bot.adapter import RECEIVE_IMAGES, SEND_IMAGES
from bot.chain import Context
from bot.config import AgentConfig
from bot.model import Conversation, Delivery
from handlers import assignment
from handlers.relay import pictures

__all__ = ["resolve", "reply", "send_reply", "parse_ticket"]

_TICKET = re.compile(r"^\s*[#＃](\d{1,9})\s*(.*)$", re.S)
# kinds a delivery cannot carry (it carries text or a picture), named for the agent's note
_NOT_SENT = {"voice": "语音", "video": "视频", "file": "文件", "location": "位置", "link": "链接"}


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
        ctx.quoted = True
    elif msg.chat:
        ctx.internal = True  # in a group only a #ticket reaches a customer; the rest is chatter
    else:
        current = await ctx.store.current_of(ctx.agent.name)
        ctx.conversation = await ctx.store.conversation(current) if current else None


async def reply(ctx: Context) -> None:
    msg, agent, conv = ctx.msg, ctx.agent, ctx.conversation
    if agent is None or msg.kind == "event":
        return
    texts = ctx.config.messages
    ticket, body = parse_ticket(msg.text)
    if body.startswith(("/", "／")) or ctx.internal or ctx.handled:
        return  # a command after a ticket ("#1024 /close"), a quick reply, group chatter: never relayed
    if conv is None or conv.status != "open":
        note = texts.unknown_ticket.format(ticket=ticket) if ticket is not None else texts.no_current
        ctx.tell_agent(agent, note)
        return
    if ticket is None and not ctx.quoted and conv.agent not in ("", agent.name):
        ctx.tell_agent(agent, f"#{conv.ticket} 已由 {conv.agent} 接待;如需回复请写明工单号。")
        return
    if ctx.held:
        return  # the quality check held it and told the agent why
    body = body if ctx.reply_text is None else ctx.reply_text
    await _answer(ctx, agent, conv, body, receipt=ticket is None)


async def _answer(ctx: Context, agent: AgentConfig, conv: Conversation, body: str, *, receipt: bool) -> None:
    """Send what the customer can receive of the agent's message; tell the agent about the rest."""
    msg = ctx.msg
    who = f"#{conv.ticket} {conv.customer_name}"
    if msg.kind not in ("text", "image"):
        what = _NOT_SENT.get(msg.kind)
        if what is None:
            ctx.tell_agent(agent, f"{who}: 这条消息的类型无法识别,没有发给客户。请用文字回复。", conv.id)
            return
        heard = f"(识别的文字: {msg.text})" if msg.kind == "voice" and msg.text else ""
        ctx.tell_agent(agent, f"{who}: {what}无法发给客户,没有发出{heard}。请用文字回复。", conv.id)
        return
    text = body if msg.kind == "text" else ""
    media = pictures(msg)
    carried = bool(media) and ctx.directory.carries_images(msg.account, conv.account)
    if text:
        await send_reply(ctx, agent, conv, text, receipt=receipt)
        receipt = False  # one receipt per message
    if carried:
        for media_id in media:
            await send_reply(
                ctx, agent, conv, "", kind="image", media=media_id, media_from=msg.account, receipt=receipt
            )
            receipt = False
    elif media or msg.kind == "image":
        done = "文字已发出," if text else ""
        ctx.tell_agent(agent, f"{who}: {done}{_no_picture(ctx, conv)}。", conv.id)
    elif not text:
        ctx.tell_agent(agent, f"{who}: 没有内容可发给客户。请在工单号后写上回复,例如: #{conv.ticket} 您好", conv.id)


def _no_picture(ctx: Context, conv: Conversation) -> str:
    """Why the agent's picture cannot reach the customer, from the accounts' declared abilities."""
    source, target, d = ctx.msg.account, conv.account, ctx.directory
    if not d.can(target, SEND_IMAGES):
        return f"图片暂时无法发给{d.label(target)}的客户,请用文字说明"
    if source != target and not d.can(source, RECEIVE_IMAGES):
        return f"图片暂时无法从{d.label(source)}转发给客户,请用文字说明"
    return "没有收到这张图片的内容,请重新发送或用文字说明"  # both can carry it: the platform gave no media id


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
    ctx.replied = True
