"""The desk's rulebook, part 3, where a real desk objected: nobody online in service hours, the
holiday text, the survey only after a real answer, and capacity on /claim and /transfer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.sandbox import Sandbox
from adapters.wecom.emulator import ROBOT_SEND
from handlers.commands import HELP
from tests.test_rulebook import GREETING, HOLIDAY, HOLIDAYS, NO_AGENT, OFF_HOURS, PLEASE_WAIT, clock, run

NAMES = {"o_zhangsan": "张三", "o_lisi": "李四", "o_wangwu": "王五"}
GROUPS = {
    "service": {"account": "desk", "webhook_key": "robot-key-service"},
    "supervisors": {"account": "desk", "webhook_key": "robot-key-supervisors"},
}
SLA = {"groups": GROUPS, "sla": {"first_response": "60s", "escalate_after": "5m", "escalate_to": "supervisors"}}
NOBODY = "⚠️ 服务时间内有 {} 位客户在等待,但没有客服在线(最早 #1001 张三 已等待 {}),请客服发送 上线 开始接待"
CLOSED = "感谢您的咨询,祝您生活愉快!如有其他问题欢迎随时联系我们"
SURVEY = "本次服务已结束,请您为本次服务打分:回复 1-5 (5 非常满意,1 非常不满意)。"


def supervisors(sb: Sandbox) -> list[str]:
    return [
        c.body["text"]["content"] for c in sb.wecom.sent(ROBOT_SEND) if c.query.get("key") == "robot-key-supervisors"
    ]


@pytest.fixture
async def desk_at(engines):
    """Sandbox.at(when, ...) on each engine pair, stopped after the test."""
    made: list[Sandbox] = []

    async def make(when: str, **kw: Any) -> Sandbox:
        bus, storage = engines
        kw.setdefault("nicknames", NAMES)
        sb = Sandbox.at(when, storage=storage, bus=bus, **kw)
        made.append(sb)
        return await sb.start()

    yield make
    for sb in made:
        await sb.stop()


@pytest.fixture
async def local_at(tmp_path):
    """Sandbox.at(when, ...) on the embedded default, stopped after the test."""
    made: list[Sandbox] = []

    async def make(when: str, **kw: Any) -> Sandbox:
        kw.setdefault("nicknames", NAMES)
        sb = Sandbox.at(when, storage=f"sqlite:///{tmp_path / f'k{len(made)}.db'}", **kw)
        made.append(sb)
        return await sb.start()

    yield make
    for sb in made:
        await sb.stop()


async def say(sb: Sandbox, user: str, text: str) -> str:
    await sb.say(user, text)
    await sb.settle()
    return sb.wecom.texts_to(user)[-1]


# -- 10. nobody online in service hours ------------------------------------------------


async def test_in_hours_with_nobody_online_customers_are_asked_to_wait_and_supervisors_told_once(desk_at):
    sb = await desk_at("2026-11-24 09:00", online=[], extra=SLA)
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    clock(sb).advance(30)
    await sb.write("o_lisi", "想咨询一下退货")
    await sb.settle()
    clock(sb).advance(31)  # 09:01:01: 张三 has waited past the first-response limit
    await run(sb)
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING, NO_AGENT, PLEASE_WAIT]
    assert supervisors(sb) == [NOBODY.format(2, "61 秒")], "one notice covers everyone waiting"
    clock(sb).advance(30)  # 李四's limit
    await run(sb)
    assert sb.wechat.texts_to("o_lisi") == [GREETING, NO_AGENT, PLEASE_WAIT]
    assert len(supervisors(sb)) == 1, "李四 was counted in the first notice"
    await sb.write("o_wangwu", "在吗")
    await sb.settle()
    clock(sb).advance(61)
    await run(sb)
    assert sb.wechat.texts_to("o_wangwu") == [GREETING, NO_AGENT, PLEASE_WAIT]
    assert len(supervisors(sb)) == 1, "no flood: at most one notice per sla.escalate_after"
    assert sb.wecom.texts_to("lixiaoli") == [] and sb.wecom.texts_to("wangxiaowang") == []


async def test_while_nobody_comes_online_supervisors_are_reminded_and_the_digest_still_comes(desk_at):
    sb = await desk_at("2026-11-24 09:00", online=[], extra=SLA)
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    clock(sb).advance(61)
    await run(sb)
    clock(sb).advance(60)
    await sb.write("o_lisi", "想咨询一下退货")
    await sb.settle()
    clock(sb).advance(240)  # 09:06:01: five minutes after the first notice; 张三's escalation is due
    await run(sb)
    assert supervisors(sb) == [NOBODY.format(1, "61 秒"), NOBODY.format(2, "6 分钟")]
    clock(sb).advance(60)  # 李四's escalation: covered by the reminder, not one alert per customer
    await run(sb)
    assert len(supervisors(sb)) == 2

    told = await say(sb, "lixiaoli", "上线")
    assert told.startswith("已为您接入 #1002 李四 (公众号)")
    texts = sb.wecom.texts_to("lixiaoli")
    assert texts[1] == "您上线前共有 2 位客户留言,按时间先后如下:"
    assert texts[2].startswith("#1001 张三 (公众号) 留言于 11-24 09:00\n  11-24 09:00 张三: 我的订单还没到")
    assert "自动回复: " + PLEASE_WAIT in texts[2]
    clock(sb).advance(600)
    await run(sb)
    assert len(supervisors(sb)) == 2, "someone is online: no more notices"


async def test_outside_hours_nobody_online_gets_the_off_hours_text_and_nothing_more(local_at):
    sb = await local_at("2026-11-24 18:00", online=[], extra=SLA)
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    for _ in range(3):
        clock(sb).advance(300)
        await run(sb)
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING, OFF_HOURS.format("周三 08:30")]
    assert supervisors(sb) == []


async def test_a_customer_who_wrote_just_before_closing_is_not_asked_to_wait_after_it(local_at):
    sb = await local_at("2026-11-24 17:29:30", online=[], extra=SLA)
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    clock(sb).advance(600)  # 17:39:30: the desk closed at 17:30
    await run(sb)
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING, NO_AGENT]
    assert supervisors(sb) == []


async def test_two_processes_ticking_at_once_send_one_nobody_online_notice(pg_database):
    from tests.conftest import redis_url, reset_pg
    from tests.test_rulebook import _second_process

    await reset_pg(pg_database)
    sb = Sandbox.at("2026-11-24 09:00", storage=pg_database, bus=redis_url(), online=[], extra=SLA, nicknames=NAMES)
    async with sb:
        await sb.write("o_zhangsan", "我的订单还没到")
        await sb.settle()
        clock(sb).advance(61)
        other = await _second_process(sb)
        try:
            await asyncio.gather(sb.kefu.tick(), other.tick())
            await sb.settle()
            await other.wait_idle()
        finally:
            await other.stop()
        assert supervisors(sb) == [NOBODY.format(1, "61 秒")]
        assert sb.wechat.texts_to("o_zhangsan") == [GREETING, NO_AGENT, PLEASE_WAIT]


# -- 11. holidays ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "reply"),
    [
        ("2026-10-01 10:00", HOLIDAY.format("10月8日 周四 08:30")),  # the whole National Day week is skipped
        ("2026-10-07 20:00", HOLIDAY.format("周四 08:30")),  # a holiday's evening: still the holiday
        ("2026-10-11 07:00", OFF_HOURS.format("周日 08:30")),  # a make-up workday (调休) before it opens
    ],
)
async def test_on_a_holiday_the_customer_gets_the_holiday_text_naming_the_next_opening(local_at, when, reply):
    sb = await local_at(when, online=[], extra=HOLIDAYS)
    await sb.write("o_zhangsan", "请问发货了吗")
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING, reply]


# -- 12. the survey only after a real answer --------------------------------------------


async def _purposes(sb: Sandbox, ticket: int) -> list[str]:
    conv = await sb.kefu.store.by_ticket(ticket)
    rows = await sb.kefu.store.transcript(conv.id)
    return [r["purpose"] for r in rows if r["direction"] == "out" and r["account"] == "mp"]


async def test_closing_a_conversation_no_agent_answered_sends_the_closing_text_not_the_survey(local_at):
    sb = await local_at("2026-11-24 09:00")
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    assert await say(sb, "lixiaoli", "/close #1001") == "#1001 张三 已结束。"
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING, CLOSED]
    assert await _purposes(sb, 1001) == ["greeting", "closed"]
    await sb.write("o_zhangsan", "5")  # not a rating: nobody asked for one
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli")[-1] == "#1002 张三 (公众号): 5"


async def test_closing_an_answered_conversation_asks_for_a_rating(local_at):
    sb = await local_at("2026-11-24 09:00")
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    await say(sb, "lixiaoli", "#1001 您好,已为您查询,明天送达")
    await say(sb, "lixiaoli", "/close #1001")
    assert sb.wechat.texts_to("o_zhangsan")[-1] == SURVEY
    assert (await _purposes(sb, 1001))[-1] == "survey"


async def test_with_the_survey_off_an_answered_conversation_gets_the_closing_text(local_at):
    sb = await local_at("2026-11-24 09:00", extra={"survey": {"enabled": False}})
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    await say(sb, "lixiaoli", "#1001 您好,已为您查询,明天送达")
    await say(sb, "lixiaoli", "/close #1001")
    assert sb.wechat.texts_to("o_zhangsan")[-1] == CLOSED
    assert (await _purposes(sb, 1001))[-1] == "closed"


# -- 13. capacity on /claim and /transfer -----------------------------------------------

ONE_EACH = {
    "agents": [
        {"name": "小李", "ids": {"desk": "lixiaoli"}, "capacity": 1},
        {"name": "小王", "ids": {"desk": "wangxiaowang"}, "capacity": 1},
    ]
}


async def _three_customers(local_at) -> Sandbox:
    """小李 has 张三 (#1001), 小王 has 李四 (#1002), 王五 (#1003) waits."""
    sb = await local_at("2026-11-24 09:00", extra=ONE_EACH)
    for who in ("o_zhangsan", "o_lisi", "o_wangwu"):
        await sb.write(who, "你好")
        await sb.settle()
    return sb


async def test_claim_beyond_capacity_is_refused_with_the_reason_and_can_be_forced(local_at):
    sb = await _three_customers(local_at)
    assert await say(sb, "lixiaoli", "/claim #1003") == (
        "小李 已有 1/1 个会话,无法再接入。如确需接入,请发送 /claim !#1003"
    )
    assert (await sb.kefu.store.by_ticket(1003)).agent == ""
    assert (await say(sb, "lixiaoli", "/claim !#1003")).startswith("已为您接入 #1003 王五 (公众号)\n")
    assert (await say(sb, "lixiaoli", "/list")).startswith("我的会话 (2/1):")


async def test_transfer_beyond_capacity_is_refused_with_the_reason_and_can_be_forced(local_at):
    sb = await _three_customers(local_at)
    assert await say(sb, "lixiaoli", "/transfer #1001 小王") == (
        "小王 已有 1/1 个会话,无法再接入。如确需转接,请发送 /transfer #1001 !小王"
    )
    assert (await sb.kefu.store.by_ticket(1001)).agent == "小李"
    assert await say(sb, "lixiaoli", "/transfer #1001 !小王") == "#1001 已转给 小王。"
    assert (await sb.kefu.store.by_ticket(1001)).agent == "小王"


async def test_the_help_text_shows_how_to_force_a_claim_or_transfer():
    assert "/claim !#1024" in HELP and "/transfer #1024 !小王" in HELP
