"""Outbound faults at the emulated platforms: timeouts after the platform took a message, rate
limits, and a send cut off by a stop. Never sent twice what the platform accepted; never dropped."""

from __future__ import annotations

from pathlib import Path

from adapters.sandbox import Sandbox
from adapters.wechat.emulator import CS_SEND
from adapters.wecom.emulator import APP_SEND, ROBOT_SEND
from bot.sender import UNCERTAIN, Sender

RELAY = "#1001 张三 (公众号): 我的订单还没到"


def _sandbox(tmp_path: Path, api_timeout: float = 10.0, **extra) -> Sandbox:
    server = {"host": "127.0.0.1", "port": 0, "api_timeout": api_timeout}
    groups = {
        "service": {"account": "desk", "webhook_key": "robot-key-service"},
        "ops": {"account": "desk", "webhook_key": "robot-key-supervisors"},
    }
    return Sandbox(
        storage=f"sqlite:///{tmp_path / 'kefu.db'}",
        nicknames={"o_zhangsan": "张三"},
        extra={"server": server, "groups": groups, "alerts": {"to": "ops"}, **extra},
    )


async def _rows(sb: Sandbox, purpose: str) -> list[dict]:
    return [r for r in await sb.kefu.store.transcript() if r["purpose"] == purpose]


async def test_a_timeout_after_wecom_took_the_message_is_not_delivered_twice(tmp_path, monkeypatch):
    monkeypatch.setattr(Sender, "base_delay", 0.01)
    async with _sandbox(tmp_path, api_timeout=0.5) as sb:
        sb.wecom.fail(APP_SEND, late=1.5)  # carried out, but the answer comes after kefu gave up
        await sb.write("o_zhangsan", "我的订单还没到")
        await sb.settle()
        calls = sb.wecom.sent(APP_SEND, accepted=False)
        assert len(calls) == 2, "timed out, so tried again"
        assert "enable_duplicate_check" not in calls[0].body
        assert calls[1].body["enable_duplicate_check"] == 1 and calls[1].duplicate
        assert sb.wecom.texts_to("lixiaoli") == [RELAY], "the agent sees it once"
        assert [r["status"] for r in await _rows(sb, "relay")] == ["sent"]


async def test_a_resend_wecom_answers_with_an_earlier_messages_id_is_recorded_as_sent(tmp_path, monkeypatch):
    """WeCom's duplicate check answers a dropped resend with the id of the first message of the same
    text: two deliveries then carry one platform id, and the second must still be recorded."""
    monkeypatch.setattr(Sender, "base_delay", 0.01)
    async with _sandbox(tmp_path, api_timeout=0.5) as sb:
        await sb.say("lixiaoli", "上线")  # already online: "您已在线。"
        await sb.settle()
        sb.wecom.fail(APP_SEND, status=504, delay=1.0)  # the next one times out, never carried out
        await sb.say("lixiaoli", "上线")  # the same text again: its resend is a duplicate of the first
        await sb.settle()
        calls = sb.wecom.sent(APP_SEND, accepted=False)
        assert calls[-1].duplicate and calls[-1].body["enable_duplicate_check"] == 1
        rows = [r for r in await sb.kefu.store.transcript() if r["direction"] == "out" and r["text"] == "您已在线。"]
        assert [r["status"] for r in rows] == ["sent", "sent"], rows
        assert rows[0]["external_id"] and rows[1]["external_id"] is None, "the first keeps the id, for quotes"


async def test_a_wechat_timeout_is_retried_and_delivered(tmp_path, monkeypatch):
    monkeypatch.setattr(Sender, "base_delay", 0.01)
    async with _sandbox(tmp_path, api_timeout=0.5) as sb:
        await sb.write("o_zhangsan", "我的订单还没到")
        await sb.settle()
        sb.wechat.fail(CS_SEND, status=504, delay=1.0, times=2)  # slow, then a gateway timeout
        await sb.say("lixiaoli", "#1001 您好,已为您查询,明天送达")
        await sb.settle(timeout=15)
        assert sb.wechat.texts_to("o_zhangsan")[-1] == "您好,已为您查询,明天送达"
        assert len(sb.wechat.sent(CS_SEND, accepted=False)) == 1 + 3  # greeting, then 2 timeouts and the send


async def test_a_rate_limit_is_waited_out_never_dropped(tmp_path, monkeypatch):
    monkeypatch.setattr(Sender, "rate_limit_delay", 0.05)
    async with _sandbox(tmp_path) as sb:
        sb.wecom.fail(APP_SEND, 45009, times=5)  # more than the ordinary retries would survive
        await sb.write("o_zhangsan", "我的订单还没到")
        await sb.settle(timeout=15)
        assert sb.wecom.texts_to("lixiaoli") == [RELAY]
        assert len(sb.wecom.sent(APP_SEND, accepted=False)) == 6
        assert await sb.kefu.store.dead_letters() == [] and sb.wecom.sent(ROBOT_SEND) == [], "no alert"


async def test_a_send_cut_off_by_a_stop_is_finished_once_after_the_restart(tmp_path):
    sb = _sandbox(tmp_path)
    async with sb:
        sb.wecom.fail(APP_SEND, late=5.0)  # the agent's app has it; kefu never hears back
        await sb.write("o_zhangsan", "我的订单还没到")
        await sb.wecom.wait_for(APP_SEND)
        await sb.stop_kefu()  # the send is cut off: its outcome is unknown
        assert [r["status"] for r in await _rows_of(tmp_path, "relay")] == ["sending"]
        await sb.start_kefu()
        await sb.settle()
        calls = sb.wecom.sent(APP_SEND, accepted=False)
        assert [c.body.get("enable_duplicate_check") for c in calls] == [None, 1]
        assert sb.wecom.texts_to("lixiaoli") == [RELAY], "WeCom's duplicate check dropped the second"
        assert [r["status"] for r in await _rows(sb, "relay")] == ["sent"]


async def test_a_wechat_send_cut_off_by_a_stop_is_not_sent_again_but_dead_lettered(tmp_path):
    sb = _sandbox(tmp_path)
    async with sb:
        await sb.write("o_zhangsan", "我的订单还没到")
        await sb.settle()
        sb.wechat.fail(CS_SEND, late=5.0)
        await sb.say("lixiaoli", "#1001 您好,已为您查询,明天送达")
        await sb.wechat.wait_for(CS_SEND, 2)  # the greeting, then the reply
        await sb.stop_kefu()
        await sb.start_kefu()
        await sb.settle()
        assert len(sb.wechat.sent(CS_SEND, accepted=False)) == 2, "no duplicate check at WeChat: not resent"
        [row] = await sb.kefu.store.dead_letters()
        assert row["purpose"] == "reply" and row["error"] == UNCERTAIN
        told = sb.wecom.texts_to("lixiaoli")[-1]
        assert told.startswith("#1001 未送达 张三: uncertain")
        assert "投递失败 (reply -> mp:o_zhangsan): uncertain" in sb.wecom.sent(ROBOT_SEND)[-1].body["text"]["content"]


async def _rows_of(tmp_path: Path, purpose: str) -> list[dict]:
    from bot.store import Store

    store = Store(f"sqlite:///{tmp_path / 'kefu.db'}")
    try:
        return [r for r in await store.transcript() if r["purpose"] == purpose]
    finally:
        await store.close()


async def test_a_stop_before_the_deliveries_were_queued_loses_nothing_on_the_in_process_bus(tmp_path, monkeypatch):
    import asyncio

    from bot.app import Runtime

    sb = _sandbox(tmp_path)
    async with sb:
        hang = asyncio.Event()

        async def stuck(self, d):  # kefu stops after the message's commit, before the sender has its deliveries
            await hang.wait()

        monkeypatch.setattr(Runtime, "publish_delivery", stuck)
        await sb.write("o_zhangsan", "我的订单还没到")
        await asyncio.sleep(0.3)
        await sb.stop_kefu()
        monkeypatch.undo()
        logged = [r for r in await _rows_of_all(tmp_path) if r["conversation_id"]]  # not the agents' notices
        rows = {(r["direction"], r["purpose"]): r["status"] for r in logged}
        # the deliveries were committed with the message's handling, both still to send; the message
        # is not yet marked handled, and its bus entry is still on disk: the restart handles it again
        assert rows == {("in", ""): "received", ("out", "greeting"): "pending", ("out", "relay"): "pending"}
        assert await _bus_entries(tmp_path) == 1
        await sb.start_kefu()
        await sb.settle()
        assert sb.wecom.texts_to("lixiaoli") == [RELAY]
        assert sb.wechat.texts_to("o_zhangsan") == ["您好,我是在线客服,很高兴为您服务"]
        assert [r["status"] for r in await _rows(sb, "relay")] == ["sent"]


async def _bus_entries(tmp_path: Path) -> int:
    import sqlite3

    with sqlite3.connect(tmp_path / "kefu.db") as conn:
        return conn.execute("SELECT count(*) FROM bus WHERE topic = 'inbound'").fetchone()[0]


async def _rows_of_all(tmp_path: Path) -> list[dict]:
    from bot.store import Store

    store = Store(f"sqlite:///{tmp_path / 'kefu.db'}")
    try:
        return await store.transcript()
    finally:
        await store.close()
