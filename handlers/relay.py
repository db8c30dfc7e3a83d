"""Relay: each customer message goes to the desk's agents as `#1024 张三 (公众号): text`."""

from __future__ import annotations

from bot.chain import Context
from bot.model import Delivery

__all__ = ["relay_to_desk", "relay_line"]


def relay_line(ticket: int, name: str, channel: str, text: str) -> str:
    return f"#{ticket} {name} ({channel}): {text}"


async def relay_to_desk(ctx: Context) -> None:
    msg, conv = ctx.msg, ctx.conversation
    if conv is None or msg.kind == "event" or not conv.agent or ctx.flags.get("relayed"):
        return  # unassigned: kept for the queue / the digest of 留言
    agent = ctx.directory.agent(conv.agent)
    if agent is None:
        return
    line = relay_line(conv.ticket, conv.customer_name, ctx.directory.label(msg.account), msg.summary())
    sent_chats: set[tuple[str, str]] = set()
    for account, user_id in ctx.directory.targets(agent):  # the assigned agent only
        chat = ctx.config.account(account).desk_chat
        if chat and (account, chat) in sent_chats:
            continue
        to, is_chat = (chat, True) if chat else (user_id, False)
        sent_chats.add((account, chat))
        ctx.send(Delivery(account=account, to=to, chat=is_chat, text=line, purpose="relay", conversation_id=conv.id))
        if msg.kind == "image" and msg.data.get("media_id"):  # the picture itself follows its line
            media = str(msg.data["media_id"])
            ctx.send(
                Delivery(
                    account=account,
                    to=to,
                    chat=is_chat,
                    kind="image",
                    media=media,
                    media_from=msg.account,
                    purpose="relay",
                    conversation_id=conv.id,
                )
            )
