"""The 48-hour window, through real signed callbacks on both engine pairs: an agent's reply the
platform refuses is kept, the customer gets one notice (a template or subscription message), and
the kept replies reach them, in order and once, when they write again. The agent hears each step."""

from __future__ import annotations

import pytest

from adapters.sandbox import Sandbox
from adapters.wechat.emulator import CS_SEND, SUBSCRIBE_SEND, TEMPLATE_SEND
from bot.errors import ConfigError

NOTICE = {
    "kind": "template",
    "template_id": "tpl-reply-waiting",
    "url": "https://example.com/kefu",
    "data": {
        "first": "您的留言已有回复,回复任意内容查看",
        "keyword1": "#{ticket}",
        "keyword2": "{agent}",
        "keyword3": "{time}",
        "remark": "{customer}您好: {reply}",
    },
    "reply_chars": 8,
}


def _sandbox(engines: tuple[str, str], notice: dict | None) -> Sandbox:
    bus, storage = engines
    sb = Sandbox(
        storage=storage,
        bus=bus,
        nicknames={"o_zhangsan": "张三"},
        mp_extra={"window_notice": notice} if notice else {},
    )
    sb.wechat.add_template("tpl-reply-waiting", "first", "keyword1", "keyword2", "keyword3", "remark")
    return sb


async def _open_ticket(sb: Sandbox) -> str:
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    return sb.wecom.texts_to("lixiaoli")[-1].split()[0]


async def _reply(sb: Sandbox, text: str) -> None:
    await sb.say("lixiaoli", text)
    await sb.settle()


async def _customer_returns(sb: Sandbox, text: str) -> None:
    sb.wechat.open_window("o_zhangsan")  # their message opens the window on WeChat's side too
    await sb.write("o_zhangsan", text)
    await sb.settle()


async def test_refused_reply_sends_one_notice_and_goes_out_when_the_customer_writes(engines):
    async with _sandbox(engines, NOTICE) as sb:
        ticket = await _open_ticket(sb)
        sb.wechat.close_window("o_zhangsan")
        await _reply(sb, f"{ticket} 您好,已为您查询,明天送达")
        told = sb.wecom.texts_to("lixiaoli")[-1]
        assert told.startswith(f"{ticket} 未送达 张三: 客户超过 48 小时未互动") and "errcode 45015" in told
        assert "回复已保留,客户再次来信时自动补发" in told and "已向客户发送提醒通知" in told

        notices = sb.wechat.notices_to("o_zhangsan")
        assert len(notices) == 1
        n = notices[0]
        assert n["first"] == "您的留言已有回复,回复任意内容查看"
        assert (n["keyword1"], n["keyword2"]) == (ticket, "小李")
        assert n["remark"] == "张三您好: 您好,已为您查询"  # the reply's first 8 characters
        assert len(n["keyword3"]) == len("2026-12-08 11:00")
        call = sb.wechat.sent(TEMPLATE_SEND)[0].body
        assert call["touser"] == "o_zhangsan" and call["url"] == "https://example.com/kefu"

        # a second reply in the same closed window: kept too, not tried, no second notice
        tries = len(sb.wechat.sent(CS_SEND, accepted=False))
        await _reply(sb, f"{ticket} 另外,发票已开好")
        assert len(sb.wechat.sent(CS_SEND, accepted=False)) == tries
        assert len(sb.wechat.notices_to("o_zhangsan")) == 1
        told = sb.wecom.texts_to("lixiaoli")[-1]
        assert "回复已保留" in told and "提醒通知" not in told
        rows = [r for r in await sb.kefu.store.transcript() if r["purpose"] == "reply"]
        assert [r["status"] for r in rows] == ["held", "held"]

        await _customer_returns(sb, "在的,刚才没看到")
        assert sb.wechat.texts_to("o_zhangsan")[-2:] == ["您好,已为您查询,明天送达", "另外,发票已开好"]
        desk = sb.wecom.texts_to("lixiaoli")
        assert f"{ticket} 张三 已再次来信,正在补发 2 条保留的回复" in desk
        assert desk.count(f"已发送给 {ticket} 张三") == 2, "each kept reply's arrival is told"
        assert f"{ticket} 张三 (公众号): 在的,刚才没看到" in desk, "their message is relayed as usual"
        rows = [r for r in await sb.kefu.store.transcript() if r["purpose"] == "reply"]
        assert [r["status"] for r in rows] == ["sent", "sent"]

        # once: the next message sends nothing again, and replies go straight out
        await _customer_returns(sb, "好的谢谢")
        await _reply(sb, f"{ticket} 不客气")
        assert sb.wechat.texts_to("o_zhangsan").count("另外,发票已开好") == 1
        assert sb.wechat.texts_to("o_zhangsan")[-1] == "不客气"
        assert len(sb.wechat.notices_to("o_zhangsan")) == 1


async def test_a_failing_notice_is_reported_and_the_reply_still_kept(engines):
    async with _sandbox(engines, {**NOTICE, "kind": "subscribe", "page": "pages/kefu"}) as sb:
        ticket = await _open_ticket(sb)
        sb.wechat.close_window("o_zhangsan")
        sb.wechat.fail(SUBSCRIBE_SEND, 43101)  # the customer did not accept the subscription
        await _reply(sb, f"{ticket} 您好,明天送达")
        told = sb.wecom.texts_to("lixiaoli")[-1]
        assert "回复已保留" in told and "提醒通知发送失败" in told and "43101" in told
        assert sb.wechat.notices_to("o_zhangsan") == []

        await _customer_returns(sb, "有回复吗")
        assert sb.wechat.texts_to("o_zhangsan")[-1] == "您好,明天送达"


async def test_a_subscription_notice_goes_to_bizsend(engines):
    async with _sandbox(engines, {**NOTICE, "kind": "subscribe", "page": "pages/kefu"}) as sb:
        ticket = await _open_ticket(sb)
        sb.wechat.close_window("o_zhangsan")
        await _reply(sb, f"{ticket} 您好")
        (call,) = sb.wechat.sent(SUBSCRIBE_SEND)
        assert call.body["page"] == "pages/kefu" and call.body["template_id"] == "tpl-reply-waiting"
        assert call.body["data"]["keyword1"] == {"value": ticket}


async def test_without_a_notice_the_reply_is_kept_and_sent_on_the_next_message(engines):
    async with _sandbox(engines, None) as sb:
        ticket = await _open_ticket(sb)
        sb.wechat.close_window("o_zhangsan")
        await _reply(sb, f"{ticket} 您好,明天送达")
        told = sb.wecom.texts_to("lixiaoli")[-1]
        assert "回复已保留" in told and "不发提醒通知" in told
        assert sb.wechat.sent(TEMPLATE_SEND, accepted=False) == []

        await _customer_returns(sb, "在吗")
        assert sb.wechat.texts_to("o_zhangsan")[-1] == "您好,明天送达"


async def test_kept_replies_survive_a_restart(engines):
    sb = _sandbox(engines, NOTICE)
    async with sb:
        ticket = await _open_ticket(sb)
        sb.wechat.close_window("o_zhangsan")
        await _reply(sb, f"{ticket} 第一条")
        await _reply(sb, f"{ticket} 第二条")
        await sb.stop_kefu()
        await sb.start_kefu()
        await _customer_returns(sb, "我回来了")
        assert sb.wechat.texts_to("o_zhangsan")[-2:] == ["第一条", "第二条"]
        assert len(sb.wechat.notices_to("o_zhangsan")) == 1


@pytest.mark.parametrize(
    ("notice", "problem"),
    [
        ({**NOTICE, "data": {"first": "#{tickt}"}}, "window_notice.data"),
        ({**NOTICE, "kind": "sms"}, "window_notice.kind"),
        ({**NOTICE, "template_id": ""}, "window_notice.template_id"),
    ],
)
def test_a_notice_mistake_names_the_key(notice, problem):
    sb = Sandbox(mp_extra={"window_notice": notice})
    with pytest.raises(ConfigError) as e:
        sb.config  # noqa: B018
    assert problem in str(e.value)


async def test_replies_kept_when_the_ticket_was_closed_reach_the_customer_on_their_return(engines):
    async with _sandbox(engines, None) as sb:
        ticket = await _open_ticket(sb)
        sb.wechat.close_window("o_zhangsan")
        await _reply(sb, f"{ticket} 已为您补发,明天送达")
        await _reply(sb, f"/close {ticket}")
        await _customer_returns(sb, "收到了吗")  # a new conversation
        assert sb.wechat.texts_to("o_zhangsan").count("已为您补发,明天送达") == 1
        desk = sb.wecom.texts_to("lixiaoli")
        assert f"{ticket} 张三 已再次来信,正在补发 1 条保留的回复" in desk
        assert f"已发送给 {ticket} 张三" in desk
        assert (await sb.kefu.store.by_ticket(int(ticket[1:]))).unreachable == ""
