"""The foundation's promise, through real HTTP on 127.0.0.1, on both engine pairs:
a WeChat customer reaches a WeCom agent and gets the answer back."""

from __future__ import annotations

from adapters.sandbox import Sandbox
from adapters.wechat.emulator import CS_SEND
from adapters.wecom.emulator import APP_SEND

GREETING = "您好,我是在线客服,很高兴为您服务"


async def _ask(sb: Sandbox, text: str = "我的订单还没到", msg_id: int = 7001, openid: str = "o_zhangsan") -> str:
    """The customer writes; returns the ticket the desk saw (like '#1001')."""
    status, body = await sb.customer.post(sb.http, sb.customer.text_xml(openid, text, msg_id))
    assert (status, body) == (200, "success")
    await sb.settle()
    line = sb.wecom.texts_to("lixiaoli")[-1]
    return line.split()[0]


async def test_subscribe_greets_and_question_reaches_agents_and_answer_reaches_customer(sandbox: Sandbox):
    sb = sandbox
    status, _ = await sb.customer.post(sb.http, sb.customer.event_xml("o_zhangsan", "subscribe"))
    assert status == 200
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING]

    ticket = await _ask(sb)
    assert ticket.startswith("#") and ticket[1:].isdigit()
    assert sb.wecom.texts_to("lixiaoli") == [f"{ticket} 张三 (公众号): 我的订单还没到"]
    assert sb.wecom.texts_to("wangxiaowang") == [], "only the assigned agent gets the conversation"
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING], "an existing conversation is not greeted twice"

    status, _ = await sb.desk.post(sb.http, sb.desk.text_xml("lixiaoli", f"{ticket} 您好,已为您查询,明天送达", 9001))
    assert status == 200
    await sb.settle()
    sent = [c.body for c in sb.wechat.sent(CS_SEND)]
    assert sent[-1] == {"touser": "o_zhangsan", "msgtype": "text", "text": {"content": "您好,已为您查询,明天送达"}}

    rows = [r for r in await sb.kefu.store.transcript() if r["conversation_id"]]  # not the agents' 上线
    assert [(r["direction"], r["account"], r["purpose"], r["status"]) for r in rows] == [
        ("in", "mp", "", "handled"),
        ("out", "mp", "greeting", "sent"),
        ("in", "mp", "", "handled"),
        ("out", "desk", "relay", "sent"),
        ("in", "desk", "", "handled"),
        ("out", "mp", "reply", "sent"),
    ]
    assert rows[-1]["text"] == "您好,已为您查询,明天送达" and rows[-1]["party"] == "o_zhangsan"
    assert len({r["conversation_id"] for r in rows}) == 1


async def test_first_message_without_subscribe_is_greeted_once(sandbox: Sandbox):
    sb = sandbox
    await _ask(sb, "你好", 7101)
    await _ask(sb, "在吗", 7102)
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING]


async def test_a_callback_posted_three_times_gives_one_relay_and_one_transcript_row(sandbox: Sandbox):
    sb = sandbox
    xml = sb.customer.text_xml("o_zhangsan", "我的订单还没到", 424242)
    for _ in range(3):  # WeChat retries after 5 s, 3 attempts in all, each freshly signed
        assert await sb.customer.post(sb.http, xml) == (200, "success")
    await sb.settle()
    assert len(sb.wecom.texts_to("lixiaoli")) == 1
    rows = [r for r in await sb.kefu.store.transcript() if r["direction"] == "in" and r["account"] == "mp"]
    assert [r["external_id"] for r in rows] == ["424242"]


async def test_subscribe_event_retried_is_greeted_once(sandbox: Sandbox):
    sb = sandbox
    xml = sb.customer.event_xml("o_zhangsan", "subscribe", create_time=1763800000)
    for _ in range(3):
        await sb.customer.post(sb.http, xml)
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING]


async def test_wrong_signature_is_refused_and_nothing_is_enqueued(sandbox: Sandbox):
    sb = sandbox
    logged = len(await sb.kefu.store.transcript())
    query, body = sb.customer.signed(sb.customer.text_xml("o_zhangsan", "hi", 5))
    for bad in ({**query, "signature": "0" * 40}, {**query, "msg_signature": "f" * 40}):
        async with sb.http.post(sb.customer.url, params=bad, data=body) as r:
            assert r.status == 403
    d_query, d_body = sb.desk.signed(sb.desk.text_xml("lixiaoli", "#1001 hi", 6))
    async with sb.http.post(sb.desk.url, params={**d_query, "msg_signature": "a" * 40}, data=d_body) as r:
        assert r.status == 403
    await sb.settle()
    assert len(await sb.kefu.store.transcript()) == logged
    assert sb.wecom.sent(APP_SEND) == [] and sb.wechat.sent(CS_SEND) == []


async def test_malformed_xml_is_refused_and_the_server_keeps_serving(sandbox: Sandbox):
    sb = sandbox
    sb.customer.aes_key = ""  # post raw bodies signed only by token, as plaintext mode would
    for body in (
        b"<xml><ToUserName>",
        b"not xml at all",
        b"<notxml/>",
        b"",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml>&a;</xml>',
    ):
        query, _ = sb.customer.signed("<xml/>")
        async with sb.http.post(sb.customer.url, params=query, data=body) as r:
            assert 400 <= r.status < 500, body
    sb.customer.aes_key = sb.wx_key
    await _ask(sb, "还在吗", 7201)
    assert sb.wecom.texts_to("lixiaoli")[-1].endswith("还在吗")


async def test_someone_who_is_not_an_agent_cannot_reach_the_customer(sandbox: Sandbox):
    sb = sandbox
    ticket = await _ask(sb)
    before = len(sb.wechat.sent(CS_SEND))
    for i, text in enumerate([f"{ticket} 我是冒充的客服", "没有工单号的消息"]):
        assert (await sb.desk.post(sb.http, sb.desk.text_xml("intruder", text, 9100 + i)))[0] == 200
    await sb.settle()
    assert len(sb.wechat.sent(CS_SEND)) == before
    assert sb.wecom.texts_to("intruder") == []


async def test_plain_reply_goes_to_the_agents_current_conversation_and_the_agent_is_told(sandbox: Sandbox):
    sb = sandbox
    ticket = await _ask(sb)
    await sb.desk.post(sb.http, sb.desk.text_xml("lixiaoli", f"{ticket} 您好,请稍等", 9201))
    await sb.desk.post(sb.http, sb.desk.text_xml("lixiaoli", "已为您查询,明天送达", 9202))
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan")[-2:] == ["您好,请稍等", "已为您查询,明天送达"]
    assert sb.wecom.texts_to("lixiaoli")[-1] == f"已发送给 {ticket} 张三"


async def test_agent_without_ticket_or_current_conversation_is_asked_for_one(sandbox: Sandbox):
    sb = sandbox
    await _ask(sb)
    await sb.desk.post(sb.http, sb.desk.text_xml("wangxiaowang", "您好", 9301))
    await sb.desk.post(sb.http, sb.desk.text_xml("wangxiaowang", "#9999 您好", 9302))
    await sb.settle()
    told = sb.wecom.texts_to("wangxiaowang")
    assert told == ["请以 #工单号 开头回复,例如: #1024 您好", "未找到进行中的工单 #9999,请检查工单号"]
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING]


async def test_a_reply_the_platform_refuses_is_logged_and_the_agent_is_told(sandbox: Sandbox):
    sb = sandbox
    ticket = await _ask(sb)
    sb.wechat.fail(CS_SEND, 45015)  # the 48-hour window has closed
    await sb.desk.post(sb.http, sb.desk.text_xml("lixiaoli", f"{ticket} 您好,已为您查询,明天送达", 9401))
    await sb.settle()
    reply = [r for r in await sb.kefu.store.transcript() if r["purpose"] == "reply"][-1]
    assert reply["status"] == "held" and "45015" in reply["error"], "kept for when the customer writes"
    told = sb.wecom.texts_to("lixiaoli")[-1]
    assert told.startswith(f"{ticket} 未送达 张三: 客户超过 48 小时未互动") and "errcode 45015" in told
    conv = await sb.kefu.store.by_ticket(int(ticket[1:]))
    assert conv is not None and "45015" in conv.unreachable, "the conversation is marked"

    # marked: the next reply is not even tried (it would only be refused again) ...
    calls = len(sb.wechat.sent(CS_SEND, accepted=False))
    await sb.desk.post(sb.http, sb.desk.text_xml("lixiaoli", f"{ticket} 您好,还在吗?请回复我们", 9402))
    await sb.settle()
    assert len(sb.wechat.sent(CS_SEND, accepted=False)) == calls
    assert "45015" in sb.wecom.texts_to("lixiaoli")[-1]
    await sb.desk.post(sb.http, sb.desk.text_xml("lixiaoli", "/list", 9405))
    await sb.settle()
    assert f"{ticket} 张三 (公众号) ⚠️ 暂时无法发送" in sb.wecom.texts_to("lixiaoli")[-1]
    # ... until the customer writes again, which opens the window
    await sb.customer.post(sb.http, sb.customer.text_xml("o_zhangsan", "在的,刚才没看到", 9403))
    await sb.settle()  # the kept replies go out first (tests/test_reply_window.py), then the agent answers
    assert sb.wechat.texts_to("o_zhangsan")[-2:] == ["您好,已为您查询,明天送达", "您好,还在吗?请回复我们"]
    await sb.desk.post(sb.http, sb.desk.text_xml("lixiaoli", f"{ticket} 好的,快递明天送达", 9404))
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan")[-1] == "好的,快递明天送达"
    assert (await sb.kefu.store.by_ticket(int(ticket[1:]))).unreachable == ""


async def test_a_command_is_never_relayed_to_the_customer(sandbox: Sandbox):
    sb = sandbox
    ticket = await _ask(sb)
    await sb.desk.post(sb.http, sb.desk.text_xml("lixiaoli", f"{ticket} 好的,马上处理", 9501))
    await sb.desk.post(sb.http, sb.desk.text_xml("lixiaoli", "/list", 9502))
    await sb.settle()
    assert "/list" not in sb.wechat.texts_to("o_zhangsan")
