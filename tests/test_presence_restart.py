"""Presence lives in storage: an agent online before a restart of kefu is online after it, on both
engine pairs; idle-offline counts from the stored last activity; several processes agree."""

from __future__ import annotations

import asyncio

from adapters.sandbox import Sandbox
from bot.chain import Desk
from handlers import presence
from tests.test_rulebook import GREETING, clock, run

NAMES = {"o_zhangsan": "张三"}


async def test_an_agent_online_before_a_restart_is_still_online_after_it(engines):
    bus, storage = engines
    async with Sandbox.at("2026-11-24 09:00", storage=storage, bus=bus, online=["lixiaoli"], nicknames=NAMES) as sb:
        await sb.stop_kefu()
        await sb.start_kefu()
        await sb.write("o_zhangsan", "我的订单还没到")
        await sb.settle()
        assert sb.wecom.texts_to("lixiaoli") == ["#1001 张三 (公众号): 我的订单还没到"]
        assert sb.wechat.texts_to("o_zhangsan") == [GREETING], "no no-agent text"
        assert sb.wecom.texts_to("wangxiaowang") == [], "小王 was never online"


async def test_idle_offline_counts_from_the_stored_last_activity_across_a_restart(engines):
    bus, storage = engines
    async with Sandbox.at("2026-11-24 09:00", storage=storage, bus=bus, nicknames=NAMES) as sb:
        clock(sb).advance(20 * 60)
        await sb.say("wangxiaowang", "/status")  # 小王 is active at 09:20, 小李 since 09:00
        await sb.settle()
        await sb.stop_kefu()
        clock(sb).advance(11 * 60)  # 09:31
        await sb.start_kefu()
        await run(sb)
        assert sb.wecom.texts_to("lixiaoli")[-1] == "小李,您已 30 分钟没有操作,已自动下线。发送 上线 恢复接待。"
        assert not any("自动下线" in t for t in sb.wecom.texts_to("wangxiaowang"))
        await sb.write("o_zhangsan", "你好")
        await sb.settle()
        assert sb.wecom.texts_to("wangxiaowang")[-1] == "#1001 张三 (公众号): 你好"


async def test_going_online_and_offline_is_decided_once_across_processes(engines):
    from tests.test_rulebook import _second_process

    bus, storage = engines
    async with Sandbox.at("2026-11-24 09:00", storage=storage, bus=bus, online=[], nicknames=NAMES) as sb:
        other = await _second_process(sb)
        try:
            one, two = Desk(**sb.kefu.desk_parts()), Desk(**other.desk_parts())
            agent = sb.config.agents[0]
            for _ in range(3):
                came = await asyncio.gather(presence.go_online(one, agent), presence.go_online(two, agent))
                assert sorted(came) == [False, True]
                assert [a.name for a in await presence.online_agents(two)] == ["小李"]
                went = await asyncio.gather(presence.go_offline(one, agent), presence.go_offline(two, agent))
                assert sorted(went) == [False, True]
                assert await presence.online_agents(one) == []
        finally:
            await other.stop()
