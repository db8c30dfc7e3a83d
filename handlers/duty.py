"""On duty: agents go online and offline by saying so (上线/下线) in their desk IM.

Coming online pulls in the waiting conversations (handlers.assignment), so this rule sits above
both presence and assignment.
"""

from __future__ import annotations

from bot.chain import Context
from handlers import assignment, presence

__all__ = ["track", "words_of"]


def words_of(ctx: Context) -> str:
    """The agent's text as a presence word: 'on', 'off' or ''."""
    text = ctx.msg.text.strip().lower()
    cfg = ctx.config.presence
    if text in (w.lower() for w in cfg.online_words):
        return "on"
    if text in (w.lower() for w in cfg.offline_words):
        return "off"
    return ""


async def track(ctx: Context) -> None:
    """Desk chain: 上线/下线 change presence; anything else an agent writes counts as activity."""
    agent = ctx.agent
    if agent is None or ctx.msg.kind == "event":
        return
    word = words_of(ctx)
    if not word:
        await presence.touch(ctx, agent)
        return
    ctx.done = True
    if word == "on":
        if await presence.go_online(ctx, agent):
            ctx.tell_agent(agent, f"{agent.name},您已上线。发送 /help 查看可用命令,发送 下线 结束接待。")
            await assignment.on_agent_online(ctx, agent)
        else:
            ctx.tell_agent(agent, "您已在线。")
    else:
        if await presence.go_offline(ctx, agent):
            held = await ctx.store.of_agent(agent.name)
            tail = f" 您还有 {len(held)} 个会话未结束,新消息将转给其他在线客服。" if held else ""
            ctx.tell_agent(agent, f"{agent.name},您已下线。{tail}".strip())
        else:
            ctx.tell_agent(agent, "您当前不在线。发送 上线 开始接待。")
