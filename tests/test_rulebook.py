"""The desk's rulebook, part 1, through real WeChat and WeCom callbacks with a settable clock:
hours, auto-replies, 留言 and the digest, the 1-minute rule, the queue, presence."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.sandbox import Sandbox
from bot.clock import FixedClock

OFF_HOURS = "我们的服务时间是周一至周六 08:30-12:00、13:00-17:30,您的留言已收到,我们将在 {} 后尽快回复您"
NO_AGENT = "您好,客服暂时不在线,您的留言已收到,客服上线后将第一时间回复您"
HOLIDAY = "您好,今天是法定节假日,客服休息,您的留言已收到,我们将在 {} 后尽快回复您"
PLEASE_WAIT = "非常抱歉让您久等了,客服正在为您查询,请稍候"
GREETING = "您好,我是在线客服,很高兴为您服务"
HOLIDAYS = {
    "schedule": {
        "holidays": ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-05", "2026-10-06", "2026-10-07"],
        "workdays": {"2026-10-11": ["08:30-12:00", "13:00-17:30"]},
    }
}


def names(**kw: str) -> dict[str, str]:
    return kw


async def run(sb: Sandbox) -> None:
    """Let kefu's timers run at the sandbox's clock, then deliver what they decided."""
    await sb.kefu.tick()
    await sb.settle()


def clock(sb: Sandbox) -> FixedClock:
    assert isinstance(sb.clock, FixedClock)
    return sb.clock


@pytest.mark.parametrize(
    ("when", "reply"),
    [
        ("2026-11-24 12:30", OFF_HOURS.format("周二 13:00")),  # a Tuesday's lunch break
        ("2026-10-01 10:00", HOLIDAY.format("10月8日 周四 08:30")),  # a configured holiday: its own text
        ("2026-10-04 10:00", OFF_HOURS.format("周四 08:30")),  # a Sunday inside the holiday: 4 days on
        ("2026-10-11 09:00", NO_AGENT),  # a make-up Sunday (调休) is a working day: not the off-hours text
        ("2026-11-24 09:00", NO_AGENT),
    ],
)
async def test_nobody_online_gets_the_right_auto_reply(tmp_path, when: str, reply: str):
    async with Sandbox.at(
        when, storage=f"sqlite:///{tmp_path / 'k.db'}", online=[], extra=HOLIDAYS, nicknames={"o_zhangsan": "张三"}
    ) as sb:
        await sb.write("o_zhangsan", "请问发货了吗")
        await sb.settle()
        assert sb.wechat.texts_to("o_zhangsan") == [GREETING, reply]


async def test_one_auto_reply_then_the_one_minute_rule_then_the_digest_when_an_agent_comes_online(sandbox_at):
    sb = await sandbox_at("2026-11-24 09:00", online=[])
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    clock(sb).advance(30)
    await sb.write("o_zhangsan", "请尽快回复")
    clock(sb).advance(90)  # 09:02: past 张三's minute
    await sb.write("o_lisi", "想咨询一下退货")
    await run(sb)
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING, NO_AGENT, PLEASE_WAIT], "one auto-reply, then 请稍候"
    assert sb.wechat.texts_to("o_lisi") == [GREETING, NO_AGENT]
    assert sb.wecom.texts_to("lixiaoli") == [], "nobody online: nothing relayed"

    clock(sb).advance(600)
    await run(sb)
    assert sb.wechat.texts_to("o_lisi") == [GREETING, NO_AGENT, PLEASE_WAIT]
    await sb.say("lixiaoli", "上线")
    await sb.settle()
    told = sb.wecom.texts_to("lixiaoli")
    assert told[0].startswith("小李,您已上线")
    assert told[1] == "您上线前共有 2 位客户留言,按时间先后如下:"
    assert told[2] == (
        "#1001 张三 (公众号) 留言于 11-24 09:00\n"
        "  11-24 09:00 张三: 我的订单还没到\n"
        "  11-24 09:00 自动回复: " + NO_AGENT + "\n"
        "  11-24 09:00 张三: 请尽快回复\n"
        "  11-24 09:02 自动回复: " + PLEASE_WAIT
    )
    assert told[3].startswith("#1002 李四 (公众号) 留言于 11-24 09:02\n  11-24 09:02 李四: 想咨询一下退货")
    assert told[4:] == ["已为您接入 #1001 张三 (公众号)", "已为您接入 #1002 李四 (公众号)"]

    await sb.say("lixiaoli", "#1001 您好,非常抱歉让您久等了,已为您查询,明天送达")
    await sb.write("o_zhangsan", "好的谢谢")
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan")[-1] == "您好,非常抱歉让您久等了,已为您查询,明天送达"
    assert sb.wecom.texts_to("lixiaoli")[-1] == "#1001 张三 (公众号): 好的谢谢"


async def test_an_auto_reply_is_not_repeated_within_the_interval_but_is_after_it(sandbox_at):
    sb = await sandbox_at("2026-11-24 09:00", online=[])
    await sb.write("o_zhangsan", "在吗")
    await sb.settle()
    clock(sb).advance(29 * 60)
    await run(sb)  # the 1-minute rule runs with nobody online too, once per unanswered wait
    await sb.write("o_zhangsan", "在吗?")
    await sb.settle()
    clock(sb).advance(2 * 60)
    await sb.write("o_zhangsan", "有人吗")
    await run(sb)
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING, NO_AGENT, PLEASE_WAIT, NO_AGENT]


async def test_unanswered_for_a_minute_gives_one_please_wait_and_one_reminder(sandbox_at):
    sb = await sandbox_at("2026-11-24 09:00", extra={**SUPERVISORS})
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    clock(sb).advance(59)
    await sb.write("o_zhangsan", "在吗")  # still the same unanswered wait
    await run(sb)
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING]
    clock(sb).advance(2)
    await run(sb)
    await run(sb)
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING, PLEASE_WAIT]
    assert [t for t in sb.wecom.texts_to("lixiaoli") if t.startswith("⏰")] == [
        "⏰ #1001 张三 已等待 61 秒 未获回复,请尽快处理"
    ]
    assert sb.wecom.texts_to("wangxiaowang") == [], "the reminder goes to the assigned agent"
    assert robot_texts(sb) == []
    clock(sb).advance(240)
    await run(sb)
    assert robot_texts(sb) == ["⚠️ #1001 张三 (公众号) 已等待 5 分钟 无人回复,接待客服: 小李"]
    await run(sb)
    assert len(robot_texts(sb)) == 1


async def test_an_answer_in_time_stops_the_clock(sandbox_at):
    sb = await sandbox_at("2026-11-24 09:00", extra={**SUPERVISORS})
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    clock(sb).advance(30)
    await sb.say("lixiaoli", "#1001 您好,正在为您查询")
    await sb.settle()
    clock(sb).advance(600)
    await run(sb)
    assert PLEASE_WAIT not in sb.wechat.texts_to("o_zhangsan")
    assert robot_texts(sb) == []
    # a new question starts a new clock
    await sb.write("o_zhangsan", "还有一个问题")
    await sb.settle()
    clock(sb).advance(61)
    await run(sb)
    assert sb.wechat.texts_to("o_zhangsan")[-1] == PLEASE_WAIT


async def test_the_one_minute_rule_survives_a_restart_without_doubling(pg_database):
    from tests.conftest import redis_url, reset_pg

    await reset_pg(pg_database)
    sb = Sandbox.at("2026-11-24 09:00", storage=pg_database, bus=redis_url(), nicknames={"o_zhangsan": "张三"})
    async with sb:
        await sb.write("o_zhangsan", "我的订单还没到")
        await sb.settle()
        await sb.stop_kefu()
        clock(sb).advance(90)  # the deadline passes while kefu is down
        await sb.start_kefu()
        other = await _second_process(sb)  # and a second process ticks at the same time
        try:
            await sb.kefu.tick()
            await other.tick()
            await sb.settle()
            await other.wait_idle()
        finally:
            await other.stop()
        assert sb.wechat.texts_to("o_zhangsan") == [GREETING, PLEASE_WAIT]
        assert [t for t in sb.wecom.texts_to("lixiaoli") if t.startswith("⏰")] == [
            "⏰ #1001 张三 已等待 90 秒 未获回复,请尽快处理"
        ]


async def test_three_customers_one_agent_of_capacity_two(sandbox_at):
    sb = await sandbox_at(
        "2026-11-24 09:00",
        agents={"小李": "lixiaoli"},
        extra=capacity(小李=2),
        nicknames={"o_a": "甲", "o_b": "乙", "o_c": "丙"},
    )
    for who in ("o_a", "o_b", "o_c"):
        await sb.write(who, f"{who} 的问题")
        await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 甲 (公众号): o_a 的问题", "#1002 乙 (公众号): o_b 的问题"]
    assert sb.wechat.texts_to("o_c") == [GREETING, "非常抱歉,目前咨询的客户较多,您排在第 1 位,请稍候"]
    await sb.write("o_c", "还要等多久")
    await sb.settle()
    assert len(sb.wechat.texts_to("o_c")) == 2, "not told again while the place has not changed"
    assert not any("丙" in t for t in sb.wecom.texts_to("lixiaoli")), "a waiting customer is not relayed"

    await sb.say("lixiaoli", "/close #1001")
    await sb.settle()
    told = sb.wecom.texts_to("lixiaoli")
    assert told[-2] == "#1001 甲 已结束。"
    assert told[-1].startswith("已为您接入 #1003 丙 (公众号)\n")
    assert "丙: o_c 的问题" in told[-1] and "丙: 还要等多久" in told[-1]
    await sb.write("o_c", "好的")
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli")[-1] == "#1003 丙 (公众号): 好的"


async def test_queue_positions_are_told_again_when_they_move_materially(sandbox_at):
    sb = await sandbox_at(
        "2026-11-24 09:00",
        agents={"小李": "lixiaoli"},
        extra=capacity(小李=1),
        nicknames={f"o_{i}": f"客户{i}" for i in range(5)},
    )
    for i in range(5):
        await sb.write(f"o_{i}", "你好")
        await sb.settle()
    firsts = [sb.wechat.texts_to(f"o_{i}")[-1] for i in range(1, 5)]
    assert firsts == [f"非常抱歉,目前咨询的客户较多,您排在第 {n} 位,请稍候" for n in range(1, 5)]
    await sb.say("lixiaoli", "/close #1001")  # everyone moves up one place
    await sb.settle()
    # o_1 is taken; o_2 reaches the front (told), o_3 and o_4 moved one place only (not told)
    assert sb.wechat.texts_to("o_2")[-1].endswith("您排在第 1 位,请稍候")
    assert sb.wechat.texts_to("o_3")[-1].endswith("您排在第 3 位,请稍候")
    await sb.say("lixiaoli", "/close #1002")
    await sb.settle()
    assert sb.wechat.texts_to("o_4")[-1].endswith("您排在第 2 位,请稍候"), "moved two places: told"


async def test_a_returning_customer_goes_to_the_agent_who_served_them(sandbox_at):
    sb = await sandbox_at("2026-11-24 09:00", nicknames={"o_a": "甲", "o_b": "乙"})
    await sb.write("o_a", "第一次")
    await sb.settle()
    await sb.say("lixiaoli", "#1001 您好")
    await sb.say("lixiaoli", "/close #1001")
    await sb.settle()
    await sb.write("o_b", "我是乙")  # round-robin would give 小李's turn away
    await sb.settle()
    await sb.write("o_a", "我又来了")
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli")[-1] == "#1003 甲 (公众号): 我又来了"
    assert sb.wecom.texts_to("wangxiaowang")[-1] == "#1002 乙 (公众号): 我是乙"


async def test_least_busy_policy(sandbox_at):
    sb = await sandbox_at(
        "2026-11-24 09:00",
        extra={"assignment": {"policy": "least_busy"}},
        nicknames={"o_a": "甲", "o_b": "乙", "o_c": "丙"},
    )
    for who in ("o_a", "o_b", "o_c"):
        await sb.write(who, "你好")
        await sb.settle()
    # 小李: 甲 and 丙 (ties go in config order), 小王: 乙
    assert [t.split()[0] for t in sb.wecom.texts_to("lixiaoli")] == ["#1001", "#1003"]
    await sb.say("lixiaoli", "/close #1001")
    await sb.settle()
    await sb.write("o_d", "你好")
    await sb.settle()
    # now 1 each: config order again
    assert sb.wecom.texts_to("lixiaoli")[-1] == "#1004 客户o_d (公众号): 你好"


async def test_an_idle_agent_goes_offline_and_is_told(sandbox_at):
    sb = await sandbox_at("2026-11-24 09:00")
    clock(sb).advance(29 * 60)
    await sb.say("wangxiaowang", "/status")  # activity keeps 小王 online
    await sb.settle()
    clock(sb).advance(2 * 60)
    await run(sb)
    assert sb.wecom.texts_to("lixiaoli")[-1] == "小李,您已 30 分钟没有操作,已自动下线。发送 上线 恢复接待。"
    assert "自动下线" not in "".join(sb.wecom.texts_to("wangxiaowang"))
    await sb.write("o_zhangsan", "你好")
    await sb.settle()
    assert sb.wecom.texts_to("wangxiaowang")[-1].endswith("张三 (公众号): 你好")


async def test_going_offline_hands_new_messages_to_someone_online(sandbox_at):
    sb = await sandbox_at("2026-11-24 09:00")
    await sb.write("o_zhangsan", "你好")
    await sb.settle()
    await sb.say("lixiaoli", "下线")
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli")[-1] == "小李,您已下线。 您还有 1 个会话未结束,新消息将转给其他在线客服。"
    await sb.write("o_zhangsan", "还在吗")
    await sb.settle()
    assert sb.wecom.texts_to("wangxiaowang")[-1].startswith("已为您接入 #1001 张三 (公众号)\n")
    assert sb.wecom.texts_to("wangxiaowang")[-1].endswith("张三: 还在吗")


async def test_presence_is_shared_by_processes_on_postgresql(pg_database):
    from tests.conftest import redis_url, reset_pg

    await reset_pg(pg_database)
    sb = Sandbox.at("2026-11-24 09:00", storage=pg_database, bus=redis_url(), online=["lixiaoli"])
    async with sb:
        other = await _second_process(sb)
        try:
            from bot.chain import Desk
            from handlers import presence

            desk = Desk(**other.desk_parts())
            assert [a.name for a in await presence.online_agents(desk)] == ["小李"]
        finally:
            await other.stop()


SUPERVISORS = {
    "groups": {
        "service": {"account": "desk", "webhook_key": "robot-key-service"},
        "supervisors": {"account": "desk", "webhook_key": "robot-key-service"},
    },
    "sla": {"first_response": "60s", "escalate_after": "5m", "escalate_to": "supervisors"},
}


def robot_texts(sb: Sandbox) -> list[str]:
    return [c.body["text"]["content"] for c in sb.wecom.sent("/cgi-bin/webhook/send")]


def capacity(**caps: int) -> dict[str, Any]:
    users = {"小李": "lixiaoli", "小王": "wangxiaowang"}
    return {"agents": [{"name": n, "ids": {"desk": users[n]}, "capacity": c} for n, c in caps.items()]}


async def _second_process(sb: Sandbox):
    from bot.app import Runtime

    other = Runtime(sb.config, clock=sb.clock)
    await other.start(serve=False)
    return other


@pytest.fixture
async def sandbox_at(tmp_path):
    """Sandbox.at(when, ...) on the embedded default, stopped after the test."""
    made: list[Sandbox] = []

    async def make(when: str, **kw: Any) -> Sandbox:
        kw.setdefault("nicknames", {"o_zhangsan": "张三", "o_lisi": "李四"})
        sb = Sandbox.at(when, storage=f"sqlite:///{tmp_path / f'k{len(made)}.db'}", **kw)
        made.append(sb)
        return await sb.start()

    yield make
    for sb in made:
        await sb.stop()


async def test_a_flooding_customer_is_told_once_and_not_relayed(sandbox_at):
    sb = await sandbox_at("2026-11-24 09:00", extra={"flood": {"max_messages": 5, "per": "60s"}})
    for i in range(8):
        await sb.write("o_zhangsan", f"第 {i} 条")
    await sb.settle()
    assert len(sb.wecom.texts_to("lixiaoli")) == 5
    notice = "您发送消息过于频繁,请稍后再试,客服会尽快回复您"
    assert sb.wechat.texts_to("o_zhangsan").count(notice) == 1
    logged = [r for r in await sb.kefu.store.transcript() if r["direction"] == "in" and r["account"] == "mp"]
    assert len(logged) == 8, "nothing the customer wrote is lost"
    clock(sb).advance(60)
    await sb.write("o_zhangsan", "一分钟后")
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli")[-1] == "#1001 张三 (公众号): 一分钟后"
