"""Relay: each customer message goes to the desk's agents as `#1024 张三 (公众号): text`.

A picture follows its line as a picture only where both accounts can carry one (bot.adapter
abilities); elsewhere the line's [图片] label, with the platform's public URL if it gave one, is all.
A voice follows its line (`[语音] <recognition>`) as audio the same way, when it is AMR, the one
format the desk platforms play; kefu converts no audio, so the line says why any other was not.
"""

from __future__ import annotations

from bot.chain import Context
from bot.model import Delivery, Message

__all__ = ["relay_to_desk", "relay_line", "pictures", "shown", "voice_note"]


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


def voice_note(msg: Message) -> str:
    """Why a voice's audio does not follow its line ('' when it can): the desks play AMR only."""
    if msg.kind != "voice" or not msg.data.get("media_id"):
        return ""
    kind = str(msg.data.get("format") or "").lower()
    return "" if kind == "amr" else f"(语音未转发: {kind or '未知'} 格式无法在企业微信播放, 只支持 AMR)"


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
    hint = f"\n{ctx.hint}" if ctx.hint else ""
    media = pictures(msg)
    voice = str(msg.data["media_id"]) if msg.kind == "voice" and msg.data.get("media_id") else ""
    sent_chats: set[tuple[str, str]] = set()
    for account, user_id in ctx.directory.targets(agent):  # the assigned agent only
        chat = ctx.config.account(account).desk_chat
        if chat and (account, chat) in sent_chats:
            continue
        to, is_chat = (chat, True) if chat else (user_id, False)
        sent_chats.add((account, chat))
        carries_voice = bool(voice) and ctx.directory.carries_voice(msg.account, account)
        note = voice_note(msg) if carries_voice else ""
        text = (f"{line} {note}" if note else line) + hint
        ctx.send(Delivery(account=account, to=to, chat=is_chat, text=text, purpose="relay", conversation_id=conv.id))
        follow = []  # what follows its line as itself, not as a label
        if carries_voice and not note:
            follow.append(("voice", voice))
        if ctx.directory.carries_images(msg.account, account):  # else the line's [图片] stands for them
            follow += [("image", media_id) for media_id in media]
        for kind, media_id in follow:
            ctx.send(
                Delivery(
                    account=account,
                    to=to,
                    chat=is_chat,
                    kind=kind,
                    media=media_id,
                    media_from=msg.account,
                    purpose="relay",
                    conversation_id=conv.id,
                )
            )
