"""Quick replies (快捷短语): `/q 退货` (or the shortcut, `//退货`) sends the saved text for that
key to the agent's conversation (or `/q 退货 #1024` to a named one); `/q` alone lists the keys."""

from __future__ import annotations

import re

from bot.chain import Context
from handlers.agent_reply import send_reply

__all__ = ["run"]

_TICKET = re.compile(r"^[#＃](\d{1,9})$")


def _parse(ctx: Context) -> list[str] | None:
    """The words after /q or the shortcut; None if this is not a quick reply."""
    text = ctx.msg.text.strip()
    shortcut = ctx.config.quick_reply_shortcut
    if shortcut and text.startswith(shortcut) and len(text) > len(shortcut):
        return text[len(shortcut) :].split()
    if text == "/q" or text.startswith("/q "):
        return text[2:].split()
    return None


async def run(ctx: Context) -> None:
    agent = ctx.agent
    if ctx.msg.kind != "text":
        return
    words = _parse(ctx)
    if words is None:
        return
    ctx.handled = True  # not a command for commands.run, not text for agent_reply
    if agent is None:
        return
    saved = ctx.config.quick_replies
    tickets = [w for w in words if _TICKET.match(w)]
    key = " ".join(w for w in words if not _TICKET.match(w))
    if not key:
        keys = "、".join(saved) or "(还没有配置快捷短语)"
        shortcut = ctx.config.quick_reply_shortcut
        ctx.tell_agent(
            agent, f"快捷短语: {keys}\n发送 /q 关键词{f' 或 {shortcut}关键词' if shortcut else ''},可加 #工单号"
        )
        return
    if key not in saved:
        ctx.tell_agent(agent, f"没有快捷短语「{key}」。可用: {'、'.join(saved) or '无'}")
        return
    if tickets:
        conv = await ctx.store.by_ticket(int(_TICKET.match(tickets[0]).group(1)))  # type: ignore[union-attr]
    else:
        current = await ctx.store.current_of(agent.name)
        conv = await ctx.store.conversation(current) if current else None
    if conv is None or conv.status != "open":
        ctx.tell_agent(agent, "请指明工单号,例如: /q 退货 #1024")
        return
    await send_reply(ctx, agent, conv, saved[key], receipt=not tickets)
