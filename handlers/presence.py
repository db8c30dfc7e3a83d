"""Presence: agents go online and offline by saying so in their desk IM; the idle go offline.

Kept in storage (SQLite on the embedded default, PostgreSQL in scale-out), so it survives a
restart of kefu and every process sees the same desk.
"""

from __future__ import annotations

from bot.chain import Context, Desk
from bot.config import AgentConfig

__all__ = ["track", "online_agents", "is_online", "go_online", "go_offline", "sweep_idle", "words_of"]


async def is_online(desk: Desk, name: str) -> bool:
    return await desk.store.is_online(name)


async def online_agents(desk: Desk) -> list[AgentConfig]:
    """Online agents, in the order the config lists them."""
    online = await desk.store.online()
    return [a for a in desk.config.agents if a.name in online]


async def go_online(desk: Desk, agent: AgentConfig) -> bool:
    """False if they already were (then it counts as activity)."""
    if await desk.store.go_online(agent.name, desk.now):
        return True
    await touch(desk, agent)
    return False


async def go_offline(desk: Desk, agent: AgentConfig) -> bool:
    """False if they already were offline (or another process took them offline first)."""
    return await desk.store.go_offline(agent.name)


async def touch(desk: Desk, agent: AgentConfig) -> None:
    await desk.store.agent_active(agent.name, desk.now)


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
        await touch(ctx, agent)
        return
    ctx.done = True
    from handlers import assignment  # coming online pulls in the waiting conversations

    if word == "on":
        if await go_online(ctx, agent):
            ctx.tell_agent(agent, f"{agent.name},您已上线。发送 /help 查看可用命令,发送 下线 结束接待。")
            await assignment.on_agent_online(ctx, agent)
        else:
            ctx.tell_agent(agent, "您已在线。")
    else:
        if await go_offline(ctx, agent):
            held = await ctx.store.of_agent(agent.name)
            tail = f" 您还有 {len(held)} 个会话未结束,新消息将转给其他在线客服。" if held else ""
            ctx.tell_agent(agent, f"{agent.name},您已下线。{tail}".strip())
        else:
            ctx.tell_agent(agent, "您当前不在线。发送 上线 开始接待。")


async def sweep_idle(desk: Desk) -> None:
    """Timer: an agent silent longer than presence.idle_offline goes offline, and is told."""
    limit = desk.config.presence.idle_offline
    if not limit:
        return
    cutoff = desk.now - limit
    idle = [name for name, last in (await desk.store.online()).items() if last <= cutoff]
    for agent in desk.config.agents:
        # the delete checks idleness again: activity meanwhile, or another process, wins
        if agent.name in idle and await desk.store.go_offline(agent.name, idle_since=cutoff):
            minutes = int(limit // 60)
            desk.tell_agent(agent, f"{agent.name},您已 {minutes} 分钟没有操作,已自动下线。发送 上线 恢复接待。")
