"""DingTalk robot (HTTP receive mode), through real signed callbacks on 127.0.0.1, in both roles."""

from __future__ import annotations

import time
from typing import Any

import pytest

from adapters.dingtalk.emulator import ROBOT_SEND, USER_SEND
from adapters.sandbox import Sandbox

GREETING = "您好,我是在线客服,很高兴为您服务"


@pytest.fixture
async def dd_desk(tmp_path):
    """WeChat customers; 小张 answers from DingTalk (the WeCom agents stay offline)."""
    sb = Sandbox(
        storage=f"sqlite:///{tmp_path / 'k.db'}", dingtalk_role="desk", online=[], nicknames={"o_zhangsan": "张三"}
    )
    async with sb:
        assert (await sb.ding("zhang001", "上线"))[0] == 200
        await sb.settle()
        yield sb


async def test_a_wechat_customer_reaches_a_dingtalk_agent_and_back(dd_desk: Sandbox):
    sb = dd_desk
    assert sb.dingtalk.texts_to("zhang001")[0].startswith("小张,您已上线")
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    assert sb.dingtalk.texts_to("zhang001")[-1] == "#1001 张三 (公众号): 我的订单还没到"
    await sb.ding("zhang001", "#1001 您好,已为您查询,明天送达")
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING, "您好,已为您查询,明天送达"]
    assert sb.dingtalk.sent(USER_SEND) == [], "the fresh session webhook was used, not the OpenAPI"


async def test_without_a_fresh_session_webhook_the_robot_openapi_is_used(tmp_path):
    sb = Sandbox(
        storage=f"sqlite:///{tmp_path / 'k.db'}", dingtalk_role="desk", online=[], nicknames={"o_zhangsan": "张三"}
    )
    async with sb:
        await sb.dd.post(sb.http, sb.dd.body("zhang001", "上线", webhook_minutes=0.5))  # expires within a minute
        await sb.settle()
        await sb.write("o_zhangsan", "在吗")
        await sb.settle()
        sent = sb.dingtalk.sent(USER_SEND)
        assert [c.body["userIds"] for c in sent] == [["zhang001"], ["zhang001"]]
        assert sb.dingtalk.texts_to("zhang001")[-1] == "#1001 张三 (公众号): 在吗"
        assert len(sb.dingtalk.sent("/v1.0/oauth2/accessToken")) == 1
        sb.dingtalk.expire_tokens()  # the platform refuses the token: refreshed once, then sent
        await sb.write("o_zhangsan", "还在吗")
        await sb.settle()
        assert sb.dingtalk.texts_to("zhang001")[-1] == "#1001 张三 (公众号): 还在吗"
        assert len(sb.dingtalk.sent("/v1.0/oauth2/accessToken")) == 2


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"sign": "wrong"}, 403),
        ({"timestamp_ms": int((time.time() - 7200) * 1000)}, 403),  # two hours old: stale or replayed
        ({"secret": "another-app-secret"}, 403),
    ],
)
async def test_wrong_or_stale_signatures_are_refused(dd_desk: Sandbox, headers: dict[str, Any], status: int):
    sb = dd_desk
    body = sb.dd.body("zhang001", "#1001 冒充的回复")
    import json

    h = sb.dd.headers(**{k: v for k, v in headers.items() if k in ("timestamp_ms", "secret")})
    if "sign" in headers:
        h["sign"] = headers["sign"]
    async with sb.http.post(sb.dd.url, data=json.dumps(body).encode(), headers=h) as r:
        assert r.status == status
    async with sb.http.post(sb.dd.url, data=b"{}") as r:  # no headers at all
        assert r.status == 403


async def test_a_malformed_body_with_a_good_signature_is_a_400(dd_desk: Sandbox):
    sb = dd_desk
    for raw in (b"not json", b"[1,2]", b'{"msgtype": "text"}'):
        async with sb.http.post(sb.dd.url, data=raw, headers=sb.dd.headers()) as r:
            assert r.status == 400
    await sb.write("o_zhangsan", "服务还在吗")
    await sb.settle()
    assert sb.dingtalk.texts_to("zhang001")[-1].endswith("服务还在吗")


async def test_a_duplicate_delivery_gives_one_relay(dd_desk: Sandbox):
    sb = dd_desk
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    body = sb.dd.body("zhang001", "#1001 您好,请稍等", msg_id="dup-1")
    for _ in range(3):
        assert (await sb.dd.post(sb.http, body))[0] == 200
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan").count("您好,请稍等") == 1


async def test_in_a_group_only_a_ticket_reaches_the_customer(dd_desk: Sandbox):
    sb = dd_desk
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    await sb.ding("zhang001", "#1001 您好,已为您查询")  # 1:1: now 小张's current conversation
    await sb.settle()
    await sb.ding("zhang001", "这个客户有点急,大家帮忙看看", group="cid-desk-group")
    await sb.ding("zhang001", "#1001 明天送达", group="cid-desk-group")
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan")[1:] == ["您好,已为您查询", "明天送达"]


async def test_commands_and_presence_work_from_dingtalk(dd_desk: Sandbox):
    sb = dd_desk
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    await sb.ding("zhang001", "/list")
    await sb.settle()
    assert sb.dingtalk.texts_to("zhang001")[-1].startswith("我的会话 (1/5):\n  #1001 张三 (公众号)")
    await sb.ding("zhang001", "/close #1001")
    await sb.settle()
    assert sb.dingtalk.texts_to("zhang001")[-1] == "#1001 张三 已结束。"


async def test_a_dingtalk_customer_reaches_a_wecom_agent_and_back(tmp_path):
    sb = Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", dingtalk_role="customer")
    async with sb:
        await sb.ding("c_wu", "你好,想问一下合同的事")
        await sb.settle()
        assert sb.wecom.texts_to("lixiaoli") == ["#1001 吴经理 (钉钉): 你好,想问一下合同的事"]
        await sb.say("lixiaoli", "#1001 您好,合同明天寄出")
        await sb.settle()
        assert sb.dingtalk.texts_to("c_wu") == [GREETING, "您好,合同明天寄出"]


async def test_a_notice_to_a_dingtalk_custom_robot_is_signed(tmp_path):
    sb = Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", dingtalk_role="desk", nicknames={"o_zhangsan": "张三"})
    await sb.dingtalk.start()
    hook = f"{sb.dingtalk.base_url}{ROBOT_SEND}?access_token="
    sb.extra = {
        "groups": {
            "after_sales": {"account": "dd", "webhook": hook + "dd-robot-token", "secret": "SEC-test-secret-0001"},
            "bad_sign": {"account": "dd", "webhook": hook + "dd-robot-token", "secret": "SEC-wrong"},
        },
        "routing": [
            {"category": "complaint", "keywords": ["投诉"], "to": "after_sales"},
            {"category": "x", "keywords": ["投诉"], "to": "bad_sign"},
        ],
    }
    async with sb:
        await sb.write("o_zhangsan", "我要投诉,快递三天没到")
        await sb.settle()
        texts = sb.dingtalk.robot_texts("dd-robot-token")
        assert len(texts) == 1 and texts[0].startswith("【投诉】#1001 张三 (公众号)")
        rows = {r["party"]: r for r in await sb.kefu.store.transcript() if r["purpose"] == "notice"}
        assert rows["after_sales"]["status"] == "sent"
        assert rows["bad_sign"]["status"] == "failed" and "310000" in rows["bad_sign"]["error"]


async def test_a_desk_group_gets_the_relays_and_answers_there_with_a_ticket(tmp_path):
    from adapters.dingtalk.emulator import GROUP_SEND

    sb = Sandbox(
        storage=f"sqlite:///{tmp_path / 'k.db'}",
        online=[],
        nicknames={"o_zhangsan": "张三"},
        dingtalk_role="desk",
        dingtalk_desk_chat="cid-desk-group",
    )
    async with sb:
        await sb.ding("zhang001", "上线")
        await sb.settle()
        await sb.write("o_zhangsan", "我的订单还没到")
        await sb.settle()
        posts = [c.body for c in sb.dingtalk.sent(GROUP_SEND)]
        assert [p["openConversationId"] for p in posts] == ["cid-desk-group"]
        assert '"#1001 张三 (公众号): 我的订单还没到"' in posts[0]["msgParam"]
        await sb.ding("zhang001", "#1001 您好,已为您查询", group="cid-desk-group")
        await sb.settle()
        assert sb.wechat.texts_to("o_zhangsan")[-1] == "您好,已为您查询"
