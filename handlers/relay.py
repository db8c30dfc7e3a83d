"""Relay: each customer message goes to the desk's agents as `#1024 张三 (公众号): text`.

A picture follows its line as a picture only where both accounts can carry one (bot.adapter
abilities); elsewhere the line's [图片] label, with the platform's public URL if it gave one, is all.
"""

from __future__ import annotations

from bot.chain import Context
from bot.model import Delivery, Message

__all__ = ["relay_to_desk", "relay_line", "pictures", "shown"]


def relay_line(ticket: int, name: str, channel: str, text: str) -> str:
    return f"#{ticket} {name} ({channel}): {text}"


def pictures(msg: Message) -> list[str]:
    """Media ids of the pictures a message carries: a picture's own, or those pasted into a rich text."""
    if msg.kind == "image":
        return [str(msg.data["media_id"])] if msg.data.get("media_id") else []
    return [str(p) for p in msg.data.get("pictures") or () if p]


def shown(msg: Message) -> str:
    """What the desk reads for a message: its summary, and a [图片] for each picture pasted into its text."""
    if msg.kind == "image":
        return msg.summary()
    return " ".join([msg.summary(), *("[图片]" for _ in pictures(msg))]).strip()


async def relay_to_desk(ctx: Context) -> None:
    msg, conv = ctx.msg, ctx.conversation
    if conv is None or msg.kind == "event" or not conv.agent:
        return  # unassigned: kept for the queue / the digest of 留言
    agent = ctx.directory.agent(conv.agent)
    if agent is None:
        return
    if ctx.relayed:  # the hand-over carried it with its history: only the knowledge base's hint is new
        if ctx.hint:
            ctx.tell_agent(agent, f"#{conv.ticket} {ctx.hint}", conv.id)
        return
    line = relay_line(conv.ticket, conv.customer_name, ctx.directory.label(msg.account), shown(msg))
    if ctx.hint:
        line += f"\n{ctx.hint}"
    media = pictures(msg)
    sent_chats: set[tuple[str, str]] = set()
    for account, user_id in ctx.directory.targets(agent):  # the assigned agent only
        chat = ctx.config.account(account).desk_chat
        if chat and (account, chat) in sent_chats:
            continue
        to, is_chat = (chat, True) if chat else (user_id, False)
        sent_chats.add((account, chat))
        ctx.send(Delivery(account=account, to=to, chat=is_chat, text=line, purpose="relay", conversation_id=conv.id))
        if not ctx.directory.carries_images(msg.account, account):
            continue  # the line's [图片] stands for it: a delivery the sender could only refuse is never made
        for media_id in media:  # the pictures themselves follow their line
            ctx.send(
                Delivery(
                    account=account,
                    to=to,
                    chat=is_chat,
                    kind="image",
                    media=media_id,
                    media_from=msg.account,
                    purpose="relay",
                    conversation_id=conv.id,
                )
            )
