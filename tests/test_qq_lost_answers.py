"""QQ sends whose answer never came back: the platform may have carried them out. The official API
refuses a repeated msg_id + msg_seq, so a resend reuses its slot and the refusal means it arrived;
OneBot has no duplicate check, so kefu never sends it again and tells the agent."""

from __future__ import annotations

import pytest

from adapters.qq.official.emulator import DUPLICATE_SEQ, QQBotEmulator, QQBotPusher, user_path
from adapters.qq.onebot.emulator import PRIVATE, OneBotEmulator, message_text
from adapters.sandbox import Sandbox
from bot.sender import Sender
from tests.test_qq import APP_ID, APP_SECRET, BOT, GREETING, SECRET, TOKEN, onebot_account


def official_account(emu: QQBotEmulator) -> dict:
    return {
        "name": "qqbot",
        "platform": "qq",
        "role": "customer",
        "protocol": "official",
        "app_id": APP_ID,
        "app_secret": APP_SECRET,
        "api_base_url": emu.base_url,
        "token_url": emu.token_url,
    }


async def test_an_official_reply_whose_answer_was_lost_reaches_the_customer_once(engines, monkeypatch):
    monkeypatch.setattr(Sender, "base_delay", 0.01)
    bus, storage = engines
    emu = QQBotEmulator(APP_ID, APP_SECRET)
    await emu.start()
    server = {"host": "127.0.0.1", "port": 0, "api_timeout": 0.5}
    async with Sandbox(storage=storage, bus=bus, more_accounts=[official_account(emu)], extra={"server": server}) as sb:
        push = QQBotPusher(f"{sb.base_url}/qq/qqbot", APP_ID, APP_SECRET, emu)
        await push.post(sb.http, push.c2c("OPENID_L1", "你好", msg_id="ROBOT1.0_l"))
        await sb.settle()
        emu.fail(user_path("OPENID_L1"), late=1.5)  # carried out; the answer comes after kefu gave up
        await sb.say("lixiaoli", "#1001 您好,请问有什么可以帮您")
        await sb.settle()
        assert emu.texts_to("OPENID_L1") == [GREETING, "您好,请问有什么可以帮您"], "the customer has it once"
        calls = emu.sent(user_path("OPENID_L1"), accepted=False)
        # the resend reused the first try's msg_seq, so the platform refused it as a duplicate
        assert [(c.body["msg_seq"], c.errcode) for c in calls] == [(1, 0), (2, 0), (2, DUPLICATE_SEQ)]
        rows = [r for r in await sb.kefu.store.transcript() if r["direction"] == "out" and r["account"] == "qqbot"]
        assert [(r["purpose"], r["status"]) for r in rows] == [("greeting", "sent"), ("reply", "sent")]
        assert await sb.kefu.store.dead_letters() == []
        assert not any("未送达" in t for t in sb.wecom.texts_to("lixiaoli"))
        assert emu.inbound["ROBOT1.0_l"].seqs == {1, 2}, "the reply used one of the 5 replies"
        await sb.say("lixiaoli", "#1001 还在吗")
        await sb.settle()
        assert emu.sent(user_path("OPENID_L1"))[-1].body["msg_seq"] == 3
    await emu.stop()


async def test_an_official_reply_held_by_the_rate_limit_keeps_its_msg_seq(tmp_path, monkeypatch):
    monkeypatch.setattr(Sender, "rate_limit_delay", 0.01)
    emu = QQBotEmulator(APP_ID, APP_SECRET)
    await emu.start()
    async with Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", more_accounts=[official_account(emu)]) as sb:
        push = QQBotPusher(f"{sb.base_url}/qq/qqbot", APP_ID, APP_SECRET, emu)
        await push.post(sb.http, push.c2c("OPENID_L2", "你好", msg_id="ROBOT1.0_m"))
        await sb.settle()
        emu.fail(user_path("OPENID_L2"), 22009, times=5)  # more than the ordinary retries would survive
        await sb.say("lixiaoli", "#1001 您好")
        await sb.settle()
        assert emu.texts_to("OPENID_L2") == [GREETING, "您好"]
        assert [c.body["msg_seq"] for c in emu.sent(user_path("OPENID_L2"), accepted=False)] == [1] + [2] * 6
        assert emu.inbound["ROBOT1.0_m"].seqs == {1, 2}
    await emu.stop()


@pytest.mark.parametrize("path", ["websocket", "http api"])
async def test_a_onebot_send_that_got_no_answer_is_not_sent_again_and_the_agent_is_told(tmp_path, monkeypatch, path):
    monkeypatch.setattr(Sender, "base_delay", 0.01)
    emu = OneBotEmulator(BOT, TOKEN, SECRET)
    await emu.start()
    sb = Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", more_accounts=[onebot_account("qq", "customer", emu)])
    async with sb:
        first = emu.private(12345, "在吗", nickname="小明")
        if path == "websocket":
            await emu.connect(f"{sb.base_url}/qq/qq/ws")
            await emu.push(first)
        else:
            await emu.post(sb.http, f"{sb.base_url}/qq/qq", first)
        await emu.wait_for(PRIVATE)
        await sb.settle()
        sb.kefu.adapters["qq"].client.timeout = 0.3
        emu.fail(PRIVATE, late=1.5)  # the implementation sends it, and its answer comes too late
        await sb.say("lixiaoli", "#1001 您好,久等了")
        await sb.settle()
        calls = emu.sent(PRIVATE, accepted=False)
        assert {c.method for c in calls} == {"WS" if path == "websocket" else "POST"}
        assert [message_text(c.body["message"]) for c in calls].count("您好,久等了") == 1, "one action, never again"
        assert emu.texts_to(12345) == [GREETING, "您好,久等了"]
        [row] = await sb.kefu.store.dead_letters()
        assert row["purpose"] == "reply" and row["error"].startswith("uncertain: ")
        assert sb.wecom.texts_to("lixiaoli")[-1].startswith("#1001 未送达 小明: uncertain")
        await emu.disconnect()
    await emu.stop()


async def test_a_onebot_send_that_never_left_is_retried_and_reported_as_not_sent(tmp_path, monkeypatch):
    monkeypatch.setattr(Sender, "base_delay", 0.01)
    emu = OneBotEmulator(BOT, TOKEN, SECRET)
    await emu.start()
    account = onebot_account("qq", "customer", emu, api_url="http://127.0.0.1:1")  # nothing listens: refused
    async with Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", more_accounts=[account]) as sb:
        await emu.post(sb.http, f"{sb.base_url}/qq/qq", emu.private(12345, "在吗", nickname="小明"))
        await sb.settle()
        [row] = await sb.kefu.store.dead_letters()
        assert row["purpose"] == "greeting"
        assert row["error"].startswith("qq: send_private_msg not sent (ClientConnectorError")
    await emu.stop()
