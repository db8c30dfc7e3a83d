"""Presence: who is online and since when; the idle go offline (agents' 上线/下线 is handlers.duty).

Kept in storage (SQLite on the embedded default, PostgreSQL in scale-out), so it survives a
restart of kefu and every process sees the same desk.
"""

from __future__ import annotations

from bot.chain import Desk
from bot.config import AgentConfig

__all__ = ["online_agents", "is_online", "go_online", "go_offline", "touch", "sweep_idle"]


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
