"""QQ, through real signed HTTP and WebSocket traffic on 127.0.0.1: OneBot v11 (HTTP POST events,
the reverse WebSocket, the HTTP API) and the official QQ Bot API (Ed25519 webhook, passive replies),
in the customer and the desk role."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from adapters.qq.official import inbound as official
from adapters.qq.official.adapter import OfficialAdapter
from adapters.qq.official.emulator import QQBotEmulator, QQBotPusher, group_path, user_path
from adapters.qq.onebot import inbound as onebot
from adapters.qq.onebot.adapter import OneBotAdapter
from adapters.qq.onebot.emulator import GROUP, PRIVATE, OneBotEmulator
from adapters.sandbox import Sandbox
from bot.errors import BadRequest, SignatureError

GREETING = "您好,我是在线客服,很高兴为您服务"
TOKEN, SECRET = "onebot-access-token", "onebot-post-secret"
BOT = 3_000_000_001  # the bot's own QQ number (self_id)
DESK_GROUP = 20001
AGENT_QQ = 10001
APP_ID, APP_SECRET = "102000001", "naOC0ocQE3shWLAfffVLB1rhYPG7"


@dataclass
class OneBotSetup:
    sb: Sandbox
    emu: OneBotEmulator
    url: str  # kefu's HTTP POST webhook for the account
    ws_url: str

    async def post(self, event: dict | bytes, **kw) -> tuple[int, str]:
        assert self.sb.http is not None
        return await self.emu.post(self.sb.http, self.url, event, **kw)


def onebot_account(name: str, role: str, emu: OneBotEmulator, **extra) -> dict:
    return {
        "name": name,
        "platform": "qq",
        "role": role,
        "protocol": "onebot",
        "access_token": TOKEN,
        "secret": SECRET,
        "api_url": emu.base_url,
        **extra,
    }


@pytest.fixture
async def qq_customer(tmp_path) -> AsyncIterator[OneBotSetup]:
    """QQ customers (OneBot) on account `qq`; the WeCom agents 小李 and 小王 online."""
    emu = OneBotEmulator(BOT, TOKEN, SECRET)
    await emu.start()
    sb = Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", more_accounts=[onebot_account("qq", "customer", emu)])
    async with sb:
        yield OneBotSetup(sb, emu, f"{sb.base_url}/qq/qq", f"{sb.base_url}/qq/qq/ws")
        await emu.disconnect()
    await emu.stop()


@pytest.fixture
async def qq_desk(tmp_path) -> AsyncIterator[OneBotSetup]:
    """WeChat customers; 小周 answers from QQ, where relays go to the desk group 20001."""
    emu = OneBotEmulator(BOT, TOKEN, SECRET)
    await emu.start()
    sb = Sandbox(
        storage=f"sqlite:///{tmp_path / 'k.db'}",
        agents={},
        online=[],
        nicknames={"o_zhangsan": "张三"},
        more_accounts=[onebot_account("qqdesk", "desk", emu, desk_chat=str(DESK_GROUP))],
        more_agents=[{"name": "小周", "ids": {"qqdesk": str(AGENT_QQ)}}],
    )
    async with sb:
        setup = OneBotSetup(sb, emu, f"{sb.base_url}/qq/qqdesk", f"{sb.base_url}/qq/qqdesk/ws")
        await emu.connect(setup.ws_url)
        await emu.push(emu.private(AGENT_QQ, "上线", nickname="小周"))
        await emu.wait_for(PRIVATE)
        await sb.settle()
        yield setup
        await emu.disconnect()
    await emu.stop()


# -- OneBot: a QQ customer ------------------------------------------------------------------


async def test_a_qq_customer_reaches_a_wecom_agent_and_gets_the_answer(qq_customer: OneBotSetup):
    sb, emu = qq_customer.sb, qq_customer.emu
    status, _ = await qq_customer.post(emu.private(12345, "你好&#44;在吗&#91;急&#93;", nickname="小明"))
    assert status == 204
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 小明 (QQ): 你好,在吗[急]"]
    await sb.say("lixiaoli", "#1001 您好,请问有什么可以帮您")
    await sb.settle()
    assert emu.texts_to(12345) == [GREETING, "您好,请问有什么可以帮您"]
    calls = emu.sent(PRIVATE)
    assert {c.method for c in calls} == {"POST"}, "no WebSocket connected: the HTTP API (api_url) was used"
    assert all(c.body["user_id"] == 12345 and c.body["message"][0]["type"] == "text" for c in calls)


async def test_over_the_reverse_websocket_events_arrive_and_actions_get_their_echo(qq_customer: OneBotSetup):
    sb, emu = qq_customer.sb, qq_customer.emu
    await emu.connect(qq_customer.ws_url)
    await emu.push(emu.heartbeat())
    await emu.push(emu.private(23456, [{"type": "text", "data": {"text": "订单查一下"}}], nickname="小红"))
    await emu.wait_for(PRIVATE)  # the greeting went back over the socket
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 小红 (QQ): 订单查一下"]
    await sb.say("lixiaoli", "#1001 好的,马上查")
    await sb.settle()
    assert emu.texts_to(23456) == [GREETING, "好的,马上查"]
    assert {c.method for c in emu.sent(PRIVATE)} == {"WS"}
    echoes = [a["echo"] for a in emu.answers]
    assert len(echoes) == 2 and all(echoes) and len(set(echoes)) == 2
    rows = [r for r in await sb.kefu.store.transcript() if r["direction"] == "out" and r["account"] == "qq"]
    assert [r["status"] for r in rows] == ["sent", "sent"]
    assert [r["external_id"] for r in rows] == [c.query["message_id"] for c in emu.sent(PRIVATE)]


async def test_the_reverse_websocket_refuses_a_bad_token_or_a_missing_self_id(qq_customer: OneBotSetup):
    emu = qq_customer.emu
    for token in ("wrong-token", ""):
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await emu.connect(qq_customer.ws_url, token=token)
        assert e.value.status == 401
    ws = await emu.connect(qq_customer.ws_url, self_id="", answer=False)
    msg = await ws.receive(timeout=5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and ws.close_code == 1008
    assert qq_customer.sb.kefu.adapters["qq"].client.connections == []


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Signature": "sha1=0000000000000000000000000000000000000000"},
        {"X-Signature": None},  # missing
        {"X-Signature": "sha1=" + "ab" * 20},
    ],
)
async def test_onebot_events_with_a_wrong_or_missing_signature_are_refused(qq_customer: OneBotSetup, headers):
    sb, emu = qq_customer.sb, qq_customer.emu
    event = emu.private(12345, "冒充的消息")
    assert (await qq_customer.post(event, headers=headers))[0] == 403
    body = json.dumps(event).encode()
    other = {"X-Signature": emu.signature(body, secret="another-secret")}
    assert (await qq_customer.post(body, headers=other))[0] == 403
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == []
    assert (await qq_customer.post(event))[0] == 204  # the same event, properly signed


async def test_meta_events_and_notices_are_acknowledged_and_ignored(qq_customer: OneBotSetup):
    sb, emu = qq_customer.sb, qq_customer.emu
    notice = {"time": int(time.time()), "self_id": BOT, "post_type": "notice", "notice_type": "friend_add"}
    lifecycle = {**emu.heartbeat(), "meta_event_type": "lifecycle", "sub_type": "connect"}
    for event in (emu.heartbeat(), lifecycle, notice):
        assert (await qq_customer.post(event))[0] == 204
    await sb.settle()
    assert [r for r in await sb.kefu.store.transcript() if r["account"] == "qq"] == []
    assert sb.wecom.texts_to("lixiaoli") == []


async def test_malformed_bodies_are_4xx_and_the_server_keeps_serving(qq_customer: OneBotSetup):
    sb, emu = qq_customer.sb, qq_customer.emu
    bad = [
        b"not json",
        b"[1, 2]",
        json.dumps({"post_type": "message", "message_type": "private", "user_id": 1}).encode(),  # no message_id
        json.dumps({**emu.private(1, "x"), "message_type": "channel"}).encode(),
        json.dumps({**emu.private(1, "x"), "message": 42}).encode(),
    ]
    for raw in bad:
        assert (await qq_customer.post(raw))[0] == 400, raw
    await emu.connect(qq_customer.ws_url)
    await emu.sockets[-1].send_str("{broken")  # a bad frame does not end the connection
    await emu.push({**emu.private(1, "x"), "user_id": "abc"})
    await emu.push(emu.private(34567, "还在吗", nickname="小刚"))
    await emu.wait_for(PRIVATE)
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 小刚 (QQ): 还在吗"]


async def test_a_duplicate_delivery_gives_one_relay(qq_customer: OneBotSetup):
    sb, emu = qq_customer.sb, qq_customer.emu
    event = emu.private(12345, "我的订单还没到", nickname="小明")
    for _ in range(3):
        assert (await qq_customer.post(event))[0] == 204
    await emu.connect(qq_customer.ws_url)
    await emu.push(event)  # the same message_id again, over the WebSocket
    await emu.push(emu.heartbeat())
    await sb.settle()
    await asyncio.sleep(0.1)
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 小明 (QQ): 我的订单还没到"]


async def test_a_refused_action_is_reported_to_the_agent(qq_customer: OneBotSetup):
    """(An action that gets no answer is never sent again: test_qq_lost_answers.py.)"""
    sb, emu = qq_customer.sb, qq_customer.emu
    await emu.connect(qq_customer.ws_url)
    await emu.push(emu.private(12345, "在吗", nickname="小明"))
    await emu.wait_for(PRIVATE)
    await sb.settle()
    emu.fail(PRIVATE, 100)  # the implementation refuses: retcode 100
    await sb.say("lixiaoli", "#1001 您好")
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli")[-1].startswith("#1001 未送达 小明: qq errcode 100")
    assert len(emu.sent(PRIVATE, accepted=False)) == 2  # the greeting, the refused one: no retry


async def test_a_qq_group_message_reaches_the_desk_only_when_it_ats_the_bot(qq_customer: OneBotSetup):
    sb, emu = qq_customer.sb, qq_customer.emu
    await qq_customer.post(emu.group(30001, 45678, "大家好", card="群友"))
    await qq_customer.post(emu.group(30001, 45678, f"[CQ:at,qq={BOT}] 请问怎么退货", card="群友"))
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 群友 (QQ): 请问怎么退货"]


# -- OneBot: a QQ desk group -------------------------------------------------------------------


async def test_a_wechat_customer_is_answered_from_a_qq_desk_group(qq_desk: OneBotSetup):
    sb, emu = qq_desk.sb, qq_desk.emu
    assert emu.texts_to(AGENT_QQ)[0].startswith("小周,您已上线")
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    assert emu.group_texts(DESK_GROUP) == ["#1001 张三 (公众号): 我的订单还没到"]
    relay = emu.message_id_of("#1001 张三")

    # a quote of kefu's relay (with an @ of the bot, as QQ adds one) answers that conversation
    quote = f"[CQ:reply,id={relay}][CQ:at,qq={BOT}] 您好,已为您查询"
    await emu.push(emu.group(DESK_GROUP, AGENT_QQ, quote, card="小周"))
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING, "您好,已为您查询"]
    assert emu.texts_to(AGENT_QQ)[-1] == "已发送给 #1001 张三"  # the agent is told where it went

    # a #ticket also reaches the customer; plain chatter in the group does not
    await emu.push(emu.group(DESK_GROUP, AGENT_QQ, "这个客户有点急,大家帮忙看看", card="小周"))
    await emu.push(emu.group(DESK_GROUP, AGENT_QQ, f"[CQ:at,qq={BOT}] #1001 明天送达", card="小周"))
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING, "您好,已为您查询", "明天送达"]

    # and the quote works as an array of segments too, any number of times
    segments = [
        {"type": "reply", "data": {"id": str(relay)}},
        {"type": "at", "data": {"qq": str(BOT)}},
        {"type": "text", "data": {"text": " 还有别的问题吗"}},
    ]
    await emu.push(emu.group(DESK_GROUP, AGENT_QQ, segments, card="小周"))
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan")[-1] == "还有别的问题吗"


async def test_a_stranger_quoting_a_relay_in_the_desk_group_reaches_no_one(qq_desk: OneBotSetup):
    sb, emu = qq_desk.sb, qq_desk.emu
    await sb.write("o_zhangsan", "在吗")
    await sb.settle()
    relay = emu.message_id_of("#1001 张三")
    await emu.push(emu.group(DESK_GROUP, 99999, f"[CQ:reply,id={relay}]我来回", card="路人"))
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING]


async def test_desk_commands_and_presence_work_from_qq(qq_desk: OneBotSetup):
    sb, emu = qq_desk.sb, qq_desk.emu
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    await emu.push(emu.private(AGENT_QQ, "/list"))
    await sb.settle()
    assert emu.texts_to(AGENT_QQ)[-1].startswith("我的会话 (1/5):\n  #1001 张三 (公众号)")
    await emu.push(emu.private(AGENT_QQ, "/close #1001"))
    await sb.settle()
    assert emu.texts_to(AGENT_QQ)[-1] == "#1001 张三 已结束。"
    await emu.push(emu.private(AGENT_QQ, "下线"))
    await sb.settle()
    await sb.write("o_lisi", "有人吗")
    await sb.settle()
    assert len(emu.group_texts(DESK_GROUP)) == 1, "an offline agent's desk gets no new relays"


async def test_a_desk_without_a_websocket_sends_through_the_http_api(qq_desk: OneBotSetup):
    sb, emu = qq_desk.sb, qq_desk.emu
    await emu.disconnect()
    await asyncio.sleep(0.05)
    await sb.write("o_zhangsan", "在吗")
    await sb.settle()
    calls = emu.sent(GROUP)
    assert calls[-1].method == "POST" and calls[-1].body["group_id"] == DESK_GROUP
    relay = emu.message_id_of("#1001 张三")
    status, _ = await qq_desk.post(emu.group(DESK_GROUP, AGENT_QQ, f"[CQ:reply,id={relay}]好的,马上处理"))
    assert status == 204
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan")[-1] == "好的,马上处理"


# -- OneBot: the signature and CQ escaping (payloads: test_payloads.py) ------------------------------


def test_onebot_signature_and_escaping():
    body = b'{"post_type":"meta_event"}'
    onebot.verify("s3cret", {"X-Signature": onebot.sign("s3cret", body)}, body)
    with pytest.raises(SignatureError):
        onebot.verify("s3cret", {"X-Signature": onebot.sign("other", body)}, body)
    with pytest.raises(SignatureError):  # no secret configured: nothing proves who posted
        onebot.verify("", {}, body)
    assert onebot.unescape(onebot.escape("a&[b],c", param=True)) == "a&[b],c"
    with pytest.raises(BadRequest):
        onebot.segments_of(3)


# -- official QQ Bot API -------------------------------------------------------------------------


def test_the_official_signing_vectors():
    assert official.seed_of("naOC0ocQE3shWLAfffVLB1rhYPG7") == b"naOC0ocQE3shWLAfffVLB1rhYPG7naOC"
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = official.signing_key("naOC0ocQE3shWLAfffVLB1rhYPG7").public_key()
    assert list(public.public_bytes(Encoding.Raw, PublicFormat.Raw)[:4]) == [215, 195, 98, 254]
    reply = official.validation_reply(
        official.signing_key("DG5g3B4j9X2KOErG"), {"plain_token": "Arq0D5A61EgUu4OxUvOp", "event_ts": "1725442341"}
    )
    assert reply["plain_token"] == "Arq0D5A61EgUu4OxUvOp"
    assert reply["signature"].startswith("87befc99c42c") and reply["signature"].endswith("2d652c706")


@dataclass
class OfficialSetup:
    sb: Sandbox
    emu: QQBotEmulator
    push: QQBotPusher

    async def write(self, openid: str, text: str, **kw) -> tuple[int, str]:
        assert self.sb.http is not None
        return await self.push.post(self.sb.http, self.push.c2c(openid, text, **kw))


@pytest.fixture
async def qq_official(tmp_path) -> AsyncIterator[OfficialSetup]:
    """QQ customers through the official bot API (account `qqbot`); the WeCom agents online."""
    emu = QQBotEmulator(APP_ID, APP_SECRET)
    await emu.start()
    account = {
        "name": "qqbot",
        "platform": "qq",
        "role": "customer",
        "protocol": "official",
        "app_id": APP_ID,
        "app_secret": APP_SECRET,
        "api_base_url": emu.base_url,
        "token_url": emu.token_url,
    }
    sb = Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", more_accounts=[account])
    async with sb:
        yield OfficialSetup(sb, emu, QQBotPusher(f"{sb.base_url}/qq/qqbot", APP_ID, APP_SECRET, emu))
    await emu.stop()


async def test_an_official_c2c_customer_reaches_a_wecom_agent_and_gets_a_passive_reply(qq_official: OfficialSetup):
    sb, emu = qq_official.sb, qq_official.emu
    status, body = await qq_official.write("OPENID_A1", "你好,我想咨询一下", msg_id="ROBOT1.0_first")
    assert status == 200 and json.loads(body) == {"op": 12}
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 客户D_A1 (QQ): 你好,我想咨询一下"]
    await sb.say("lixiaoli", "#1001 您好,请讲")
    await sb.settle()
    assert emu.texts_to("OPENID_A1") == [GREETING, "您好,请讲"]
    sent = emu.sent(user_path("OPENID_A1"))
    assert [(c.body["msg_id"], c.body["msg_seq"], c.body["msg_type"]) for c in sent] == [
        ("ROBOT1.0_first", 1, 0),
        ("ROBOT1.0_first", 2, 0),
    ]
    assert len(emu.sent("/app/getAppAccessToken")) == 1
    # a newer message is the one answered next, from seq 1 again
    await qq_official.write("OPENID_A1", "还有一个问题", msg_id="ROBOT1.0_second")
    await sb.settle()
    await sb.say("lixiaoli", "#1001 请说")
    await sb.settle()
    last = emu.sent(user_path("OPENID_A1"))[-1].body
    assert (last["msg_id"], last["msg_seq"]) == ("ROBOT1.0_second", 1)


async def test_a_reply_past_the_window_or_the_fifth_is_reported_to_the_agent(qq_official: OfficialSetup):
    sb, emu = qq_official.sb, qq_official.emu
    await qq_official.write("OPENID_B2", "在吗", msg_id="ROBOT1.0_b")
    await sb.settle()
    for n in range(4):  # the greeting took seq 1; these take 2..5
        await sb.say("lixiaoli", f"#1001 第{n + 1}条回复")
    await sb.settle()
    await sb.say("lixiaoli", "#1001 第五条回复")
    await sb.settle()
    assert [c.body["msg_seq"] for c in emu.sent(user_path("OPENID_B2"))] == [1, 2, 3, 4, 5]
    told = sb.wecom.texts_to("lixiaoli")[-1]
    assert told.startswith("#1001 未送达") and "5 replies" in told
    # a message two hours old (a late redelivery) cannot be answered
    await qq_official.write("OPENID_C3", "早上的问题", at=time.time() - 7200)
    await sb.settle()
    await sb.say("lixiaoli", "#1002 您好")
    await sb.settle()
    assert emu.texts_to("OPENID_C3") == []
    assert "proactive messages are discontinued" in sb.wecom.texts_to("lixiaoli")[-1]


async def test_the_official_token_is_refreshed_once_when_refused(qq_official: OfficialSetup):
    sb, emu = qq_official.sb, qq_official.emu
    await qq_official.write("OPENID_D4", "你好")
    await sb.settle()
    emu.expire_tokens()
    await sb.say("lixiaoli", "#1001 您好")
    await sb.settle()
    assert emu.texts_to("OPENID_D4") == [GREETING, "您好"]
    assert len(emu.sent("/app/getAppAccessToken")) == 2


async def test_an_official_group_at_message_is_answered_in_the_group(qq_official: OfficialSetup):
    sb, emu, push = qq_official.sb, qq_official.emu, qq_official.push
    await push.post(sb.http, push.group("GROUP_G1", "MEMBER_M1", "请问发票怎么开", msg_id="ROBOT1.0_g"))
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 客户R_M1 (QQ): 请问发票怎么开"]
    await sb.say("lixiaoli", "#1001 在订单页申请即可")
    await sb.settle()
    assert emu.group_texts("GROUP_G1") == [GREETING, "在订单页申请即可"]
    assert [c.body["msg_seq"] for c in emu.sent(group_path("GROUP_G1"))] == [1, 2]


async def test_official_url_validation_answers_with_the_secret_key(qq_official: OfficialSetup):
    sb, push = qq_official.sb, qq_official.push
    status, reply = await push.validate(sb.http, "Arq0D5A61EgUu4OxUvOp", "1725442341")
    assert status == 200 and reply["plain_token"] == "Arq0D5A61EgUu4OxUvOp"
    Ed25519PublicKey.from_public_bytes(push.public_key()).verify(
        bytes.fromhex(reply["signature"]), b"1725442341Arq0D5A61EgUu4OxUvOp"
    )
    body = json.dumps({"op": 13, "d": {"plain_token": '{"op":0}', "event_ts": "1"}}).encode()
    async with sb.http.post(push.url, data=body) as r:  # never a signing oracle for an event body
        assert r.status == 400


@pytest.mark.parametrize(
    "how", ["wrong signature", "other secret", "stale", "missing", "short signature", "not hex", "high bits"]
)
async def test_official_events_with_a_bad_signature_are_refused(qq_official: OfficialSetup, how: str):
    sb, push = qq_official.sb, qq_official.push
    payload = push.c2c("OPENID_E5", "冒充的消息")
    body = json.dumps(payload).encode()
    headers = push.headers(body)
    if how == "wrong signature":
        headers = push.headers(body + b" ")
    elif how == "other secret":
        headers = push.headers(body, secret="another-bot-secret-000000000000")
    elif how == "stale":
        headers = push.headers(body, timestamp=int(time.time()) - 7200)
    elif how == "missing":
        headers = {"Content-Type": "application/json"}
    elif how == "short signature":
        headers["X-Signature-Ed25519"] = headers["X-Signature-Ed25519"][:64]
    elif how == "not hex":
        headers["X-Signature-Ed25519"] = "zz" * 64
    elif how == "high bits":
        headers["X-Signature-Ed25519"] = headers["X-Signature-Ed25519"][:126] + "ff"
    assert (await push.post(sb.http, body, headers=headers))[0] == 403
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == []
    assert (await push.post(sb.http, body))[0] == 200


async def test_official_duplicates_and_malformed_bodies(qq_official: OfficialSetup):
    sb, emu, push = qq_official.sb, qq_official.emu, qq_official.push
    for raw in (b"not json", b"[1]", b'{"op": "zero"}', json.dumps({"op": 0, "t": "C2C_MESSAGE_CREATE"}).encode()):
        assert (await push.post(sb.http, raw))[0] == 400, raw
    other = {"op": 0, "id": "x", "t": "FRIEND_ADD", "d": {"openid": "O"}}  # acknowledged, ignored
    assert (await push.post(sb.http, other))[0] == 200
    payload = push.c2c("OPENID_F6", "我的快递呢", msg_id="ROBOT1.0_dup")
    for _ in range(3):
        assert (await push.post(sb.http, payload))[0] == 200
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 客户D_F6 (QQ): 我的快递呢"]
    assert emu.texts_to("OPENID_F6") == [GREETING]


async def test_the_factory_picks_the_adapter_by_protocol(qq_official: OfficialSetup):
    assert isinstance(qq_official.sb.kefu.adapters["qqbot"], OfficialAdapter)
    assert not isinstance(qq_official.sb.kefu.adapters["qqbot"], OneBotAdapter)


async def test_kefu_stops_promptly_while_a_onebot_websocket_is_connected(tmp_path):
    emu = OneBotEmulator(BOT, TOKEN, SECRET)
    await emu.start()
    sb = Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", more_accounts=[onebot_account("qq", "customer", emu)])
    await sb.start()
    ws = await emu.connect(f"{sb.base_url}/qq/qq/ws")
    started = time.monotonic()
    await sb.stop()
    assert time.monotonic() - started < 3, "the server waited for the open WebSocket"
    assert ws.closed
    await emu.stop()


async def test_passive_reply_numbering_holds_on_both_engine_pairs(engines: tuple[str, str]):
    """The reply window and msg_seq slots live in the shared state: Redis when the bus is Redis."""
    bus, storage = engines
    emu = QQBotEmulator(APP_ID, APP_SECRET)
    await emu.start()
    account = {
        "name": "qqbot",
        "platform": "qq",
        "role": "customer",
        "protocol": "official",
        "app_id": APP_ID,
        "app_secret": APP_SECRET,
        "api_base_url": emu.base_url,
        "token_url": emu.token_url,
    }
    async with Sandbox(storage=storage, bus=bus, more_accounts=[account]) as sb:
        push = QQBotPusher(f"{sb.base_url}/qq/qqbot", APP_ID, APP_SECRET, emu)
        await push.post(sb.http, push.c2c("OPENID_R1", "你好", msg_id="ROBOT1.0_r"))
        await sb.settle()
        await sb.say("lixiaoli", "#1001 您好")
        await sb.say("lixiaoli", "#1001 请问有什么可以帮您")
        await sb.settle()
        sent = emu.sent(user_path("OPENID_R1"))
        assert [(c.body["msg_id"], c.body["msg_seq"]) for c in sent] == [("ROBOT1.0_r", n) for n in (1, 2, 3)]
    await emu.stop()
