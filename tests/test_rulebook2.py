"""The desk's rulebook, part 2, end to end: routing to groups, the reply-quality check, quick
replies, the satisfaction survey, the handover at the end of a window, and the daily summary."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.sandbox import Sandbox
from adapters.wecom.emulator import APPCHAT_SEND, ROBOT_SEND

GROUPS = {
    "service": {"account": "desk", "webhook_key": "robot-key-service"},
    "after_sales": {"account": "desk", "chat_id": "after-sales-chat"},
    "sales": {"account": "desk", "webhook_key": "robot-key-sales"},
    "supervisors": {"account": "desk", "webhook_key": "robot-key-supervisors"},
}
ROUTING = [
    {
        "category": "complaint",
        "keywords": ["投诉", "差评"],
        "regex": ["退(款|钱)"],
        "to": "after_sales",
        "keep_with_desk": True,
    },
    {"category": "suggestion", "keywords": ["建议", "意见"], "to": "sales"},
    {"category": "lead", "keywords": ["代理", "批发"], "to": "sales", "keep_with_desk": False},
]
BASE = {
    "groups": GROUPS,
    "routing": ROUTING,
    "survey": {"low_score_to": "supervisors"},
    "handover": {"to": "service"},
    "reports": {"daily_at": "18:00", "to": "supervisors"},
    "quick_replies": {
        "退货": "您好,退货请在订单页点击申请退货,我们将在 24 小时内处理。",
        "发票": "您好,电子发票将在发货后开具。",
    },
}


def robot(sb: Sandbox, key: str) -> list[str]:
    return [c.body["text"]["content"] for c in sb.wecom.sent(ROBOT_SEND) if c.query.get("key") == key]


def appchat(sb: Sandbox, chat: str) -> list[str]:
    return [c.body["text"]["content"] for c in sb.wecom.sent(APPCHAT_SEND) if c.body.get("chatid") == chat]


@pytest.fixture
async def desk(tmp_path):
    made: list[Sandbox] = []

    async def make(when: str = "2026-11-24 09:00", **extra: Any) -> Sandbox:
        sb = Sandbox.at(
            when,
            storage=f"sqlite:///{tmp_path / f'k{len(made)}.db'}",
            extra={**BASE, **extra},
            nicknames={"o_zhangsan": "张三", "o_lisi": "李四", "o_wangwu": "王五"},
        )
        made.append(sb)
        return await sb.start()

    yield make
    for sb in made:
        await sb.stop()


async def ask(sb: Sandbox, who: str, text: str) -> None:
    await sb.write(who, text)
    await sb.settle()


async def test_a_complaint_goes_to_after_sales_a_suggestion_to_sales_and_a_question_to_neither(desk):
    sb = await desk()
    await ask(sb, "o_zhangsan", "我要投诉,快递三天没到")
    await ask(sb, "o_lisi", "建议你们增加夜间客服")
    await ask(sb, "o_wangwu", "请问营业时间是几点")
    complaint = appchat(sb, "after-sales-chat")
    assert complaint == [
        "【投诉】#1001 张三 (公众号) 11-24 09:00\n我要投诉,快递三天没到\n"
        "接待客服: 小李\n接入: 在客服应用中发送 /claim #1001"
    ]
    assert robot(sb, "robot-key-sales") == [
        "【建议】#1002 李四 (公众号) 11-24 09:00\n建议你们增加夜间客服\n"
        "接待客服: 小王\n接入: 在客服应用中发送 /claim #1002"
    ]
    assert not any("王五" in t for t in complaint + robot(sb, "robot-key-sales"))
    assert (await sb.kefu.store.by_ticket(1001)).category == "complaint"
    assert (await sb.kefu.store.by_ticket(1003)).category == ""
    # the complaint also stays with the desk
    assert "#1001 张三 (公众号): 我要投诉,快递三天没到" in sb.wecom.texts_to("lixiaoli")


async def test_a_conversation_is_forwarded_once_per_category_and_may_have_several(desk):
    sb = await desk()
    await ask(sb, "o_zhangsan", "我要投诉")
    await ask(sb, "o_zhangsan", "再投诉一次,而且我要退款")
    await ask(sb, "o_zhangsan", "另外给个建议")
    assert len(appchat(sb, "after-sales-chat")) == 1
    assert len(robot(sb, "robot-key-sales")) == 1
    assert (await sb.kefu.store.by_ticket(1001)).category == "complaint,suggestion"


async def test_a_lead_handed_to_sales_is_not_queued_for_the_desk(desk):
    sb = await desk()
    await ask(sb, "o_zhangsan", "你好,我想做你们的代理")
    assert robot(sb, "robot-key-sales")[0].startswith("【商机】#1001 张三")
    assert sb.wecom.texts_to("lixiaoli") == [] and sb.wecom.texts_to("wangxiaowang") == []


@pytest.mark.parametrize("reply", ["不知道", "好的", "可以哦", "这个问题你是不是傻逼", "我也不清楚啊!"])
async def test_warn_mode_delivers_a_poor_reply_and_tells_the_agent(desk, reply: str):
    sb = await desk()
    await ask(sb, "o_zhangsan", "我的订单还没到")
    await sb.say("lixiaoli", f"#1001 {reply}")
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan")[-1] == reply
    assert sb.wecom.texts_to("lixiaoli")[-1].startswith("⚠️ 已发送给 #1001,但请注意: ")
    found = await sb.kefu.store.findings_between(0, 2e9)
    assert found and {f["action"] for f in found} == {"warned"}


async def test_the_findings_name_what_is_wrong(desk):
    sb = await desk()
    await ask(sb, "o_zhangsan", "我的订单还没到")
    for reply in ("不知道", "好的", "可以哦", "你是傻逼吗"):
        await sb.say("lixiaoli", f"#1001 {reply}")
    await sb.settle()
    rules = [(f["rule"], f["detail"]) for f in await sb.kefu.store.findings_between(0, 2e9)]
    assert rules == [("vague", "不知道"), ("min_chars", "2"), ("ending", "哦"), ("banned_word", "傻逼")]


async def test_a_good_reply_passes_untouched(desk):
    sb = await desk(quality={"mode": "block"})
    await ask(sb, "o_zhangsan", "我的订单还没到")
    await sb.say("lixiaoli", "#1001 您好,已为您查询,明天送达")
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan")[-1] == "您好,已为您查询,明天送达"
    assert not any(t.startswith(("⚠️", "⛔")) for t in sb.wecom.texts_to("lixiaoli"))
    assert await sb.kefu.store.findings_between(0, 2e9) == []


@pytest.mark.parametrize("reply", ["不知道", "好的", "可以哦", "你是傻逼吗"])
async def test_block_mode_holds_a_poor_reply_until_the_agent_overrides(desk, reply: str):
    sb = await desk(quality={"mode": "block"})
    await ask(sb, "o_zhangsan", "我的订单还没到")
    before = list(sb.wechat.texts_to("o_zhangsan"))
    await sb.say("lixiaoli", f"#1001 {reply}")
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan") == before
    assert sb.wecom.texts_to("lixiaoli")[-1].startswith("⛔ 回复未发送给 #1001: ")
    await sb.say("lixiaoli", f"#1001 !{reply}")
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan")[-1] == reply
    actions = [f["action"] for f in await sb.kefu.store.findings_between(0, 2e9)]
    assert set(actions) == {"blocked", "overridden"}


async def test_quick_replies(desk):
    sb = await desk()
    await ask(sb, "o_zhangsan", "怎么退货")
    await sb.say("lixiaoli", "/q 退货")
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan")[-1] == "您好,退货请在订单页点击申请退货,我们将在 24 小时内处理。"
    await sb.say("lixiaoli", "//发票")
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan")[-1] == "您好,电子发票将在发货后开具。"
    await sb.say("lixiaoli", "/q")
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli")[-1].startswith("快捷短语: 退货、发票\n")
    await sb.say("lixiaoli", "/q 换货")
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli")[-1] == "没有快捷短语「换货」。可用: 退货、发票"
    await ask(sb, "o_lisi", "我也要退货")
    await sb.say("wangxiaowang", "/q 退货 #1002")
    await sb.settle()
    assert sb.wechat.texts_to("o_lisi")[-1].startswith("您好,退货请在订单页")


async def test_a_quick_reply_by_a_shortcut_without_a_slash_reaches_the_customer_once(desk):
    sb = await desk(quick_reply_shortcut="；；")
    await ask(sb, "o_zhangsan", "怎么退货")
    await sb.say("lixiaoli", "；；退货")
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan")[1:] == ["您好,退货请在订单页点击申请退货,我们将在 24 小时内处理。"]


async def test_the_survey_after_close_stores_the_rating_and_a_low_one_reaches_supervisors(desk):
    sb = await desk()
    await ask(sb, "o_zhangsan", "我的订单还没到")
    await ask(sb, "o_lisi", "发票怎么开")
    await sb.say("lixiaoli", "#1001 您好,已为您查询,明天送达")  # only an answered conversation is rated
    await sb.say("wangxiaowang", "#1002 您好,电子发票将在发货后开具")
    await sb.say("lixiaoli", "/close #1001")
    await sb.say("wangxiaowang", "/close #1002")
    await sb.settle()
    prompt = "本次服务已结束,请您为本次服务打分:回复 1-5 (5 非常满意,1 非常不满意)。"
    assert sb.wechat.texts_to("o_zhangsan")[-1] == prompt
    await ask(sb, "o_zhangsan", "5")
    await ask(sb, "o_lisi", "1")
    first, second = await sb.kefu.store.by_ticket(1001), await sb.kefu.store.by_ticket(1002)
    assert (first.rating, first.rating_text) == (5, "5分")
    assert (second.rating, second.rating_text) == (1, "1分")
    assert sb.wechat.texts_to("o_zhangsan")[-1] == "感谢您的评价,祝您生活愉快!"
    assert robot(sb, "robot-key-supervisors") == ["👎 #1002 李四 (公众号) 评价: 1分,接待客服: 小王\n  客户: 发票怎么开"]
    assert sb.wecom.texts_to("lixiaoli")[-1] == "#1001 张三 已结束。", "a rating is not a new question"


async def test_a_customer_who_does_not_rate_is_not_asked_again(desk):
    sb = await desk()
    await ask(sb, "o_zhangsan", "我的订单还没到")
    await sb.say("lixiaoli", "#1001 您好,已为您查询,明天送达")
    await sb.say("lixiaoli", "/close #1001")
    await sb.settle()
    await ask(sb, "o_zhangsan", "还有一个问题想问")  # not a rating: a new conversation
    assert sb.wecom.texts_to("lixiaoli")[-1] == "#1002 张三 (公众号): 还有一个问题想问"
    await ask(sb, "o_zhangsan", "5")  # now just a message in #1002
    assert sb.wecom.texts_to("lixiaoli")[-1] == "#1002 张三 (公众号): 5"
    assert (await sb.kefu.store.by_ticket(1001)).rating is None
    prompts = [t for t in sb.wechat.texts_to("o_zhangsan") if t.startswith("本次服务已结束")]
    assert len(prompts) == 1


async def test_a_three_level_survey(desk):
    sb = await desk(survey={"scale": "3", "low_score_to": "supervisors"})
    await ask(sb, "o_zhangsan", "我的订单还没到")
    await sb.say("lixiaoli", "#1001 您好,已为您查询,明天送达")
    await sb.say("lixiaoli", "/close")
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan")[-1] == "本次服务已结束,请您评价:回复 满意、一般 或 不满意。"
    await ask(sb, "o_zhangsan", "不满意")
    assert (await sb.kefu.store.by_ticket(1001)).rating_text == "不满意"
    assert robot(sb, "robot-key-supervisors")[0].startswith("👎 #1001 张三 (公众号) 评价: 不满意")


async def test_the_handover_at_1730_lists_exactly_the_open_conversations(desk):
    sb = await desk("2026-11-24 17:20", agents=[{"name": "小李", "ids": {"desk": "lixiaoli"}, "capacity": 1}])
    await ask(sb, "o_zhangsan", "我的订单还没到")
    await ask(sb, "o_lisi", "发票怎么开")  # waits: capacity 1
    await ask(sb, "o_wangwu", "谢谢")
    await sb.say("lixiaoli", "/close #1001")  # 王五 (#1003)... 李四 takes the free place
    await sb.settle()
    sb.clock.advance(10 * 60)  # 17:30
    await sb.kefu.tick()
    await sb.settle()
    await sb.kefu.tick()
    await sb.settle()
    posts = robot(sb, "robot-key-service")
    assert len(posts) == 1
    lines = posts[0].split("\n")
    assert lines[0] == "【交接】11-24 17:30 班次结束: 未结束的会话 2 个"
    assert lines[1].startswith("#1002 李四 (公众号) 客服 小李") and lines[2] == "  最后消息: 发票怎么开"
    assert lines[3].startswith("#1003 王五 (公众号) 等待接入") and lines[4] == "  最后消息: 谢谢"
    await sb.say("lixiaoli", "/handover")
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli")[-1].startswith("【交接】当前: 未结束的会话 2 个\n#1002 李四")


async def test_the_daily_summary_is_posted_at_the_configured_time(desk):
    sb = await desk("2026-11-24 17:50")
    await ask(sb, "o_zhangsan", "我的订单还没到")
    sb.clock.advance(30)
    await sb.say("lixiaoli", "#1001 您好,已为您查询,明天送达")
    await ask(sb, "o_lisi", "发票怎么开")
    sb.clock.advance(90)
    await sb.say("wangxiaowang", "#1002 好的")
    await sb.say("lixiaoli", "/close #1001")
    await sb.settle()
    await ask(sb, "o_zhangsan", "4")
    sb.clock.advance(8 * 60)  # 18:00
    await sb.kefu.tick()
    await sb.settle()
    posts = robot(sb, "robot-key-supervisors")
    assert posts == [
        "\n".join(
            [
                "📊 在线客服日报 2026-11-24",
                "会话: 2 (已结束 1, 未结束 1)",
                "首次响应: 中位数 1分, P90 1分30秒 (已响应 2/2)",
                "超时 (首次响应超过 1分): 1",
                "回复质量提醒: 1 (回复太短 1)",
                "满意度: 平均 4.0 分 (评价 1 条: 4分 1); 差评 0",
            ]
        )
    ]
