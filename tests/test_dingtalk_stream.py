"""DingTalk Stream mode, through a fake Stream gateway on 127.0.0.1 (the connection endpoint and a
WebSocket speaking dingtalk-stream's frames): a frame is acknowledged only once its message is on the bus."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from adapters.dingtalk.emulator import STREAM_CONNECT, STREAM_OPEN, DingTalkStreamGateway
from adapters.sandbox import Sandbox
from bot.errors import BusUnavailable

GREETING = "您好,我是在线客服,很高兴为您服务"


class StreamSandbox(Sandbox):
    gateway: DingTalkStreamGateway


@pytest.fixture
async def sb(tmp_path) -> AsyncIterator[StreamSandbox]:
    """DingTalk customers write to the robot "dds" in Stream mode; WeCom agents answer."""
    box = StreamSandbox(storage=f"sqlite:///{tmp_path / 'kefu.db'}")
    gw = DingTalkStreamGateway(box.dingtalk.app_key, box.dingtalk.app_secret)
    await gw.start()
    await box.dingtalk.start()  # first, so both URLs can go into the config
    box.gateway = gw
    box.more_accounts = [
        {
            "name": "dds",
            "platform": "dingtalk",
            "role": "customer",
            "mode": "stream",
            "stream_endpoint": gw.base_url,
            "app_key": box.dingtalk.app_key,
            "app_secret": box.dingtalk.app_secret,
            "api_base_url": box.dingtalk.base_url,
        }
    ]
    try:
        async with box:
            await gw.wait_for(STREAM_CONNECT)
            yield box
    finally:
        await gw.stop()


def stream_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("dingtalk-stream")]


async def test_a_stream_customer_reaches_a_wecom_agent_and_the_frame_is_acked(sb: StreamSandbox):
    opened = sb.gateway.sent(STREAM_OPEN)[0].body
    assert opened["clientId"] == sb.dingtalk.app_key and opened["clientSecret"] == sb.dingtalk.app_secret
    assert {"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"} in opened["subscriptions"]

    mid = await sb.gateway.push_callback(sb.dd.body("c_wu", "你好,想问一下合同的事"))
    ack = await sb.gateway.ack_for(mid)
    assert ack["code"] == 200 and ack["headers"]["messageId"] == mid
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 吴经理 (钉钉): 你好,想问一下合同的事"]

    await sb.say("lixiaoli", "#1001 您好,合同明天寄出")
    await sb.settle()
    assert sb.dingtalk.texts_to("c_wu") == [GREETING, "您好,合同明天寄出"], "answered through the session webhook"


async def test_a_stream_rich_text_reaches_the_agent_with_its_text_and_a_picture_label(sb: StreamSandbox):
    body = sb.dd.rich_text("c_wu", "发票抬头写错了", "pic:dc-invoice-1")
    mid = await sb.gateway.push_callback(body)
    assert (await sb.gateway.ack_for(mid))["code"] == 200
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 吴经理 (钉钉): 发票抬头写错了 [图片]"]
    assert await sb.kefu.store.dead_letters() == []  # type: ignore[union-attr]


async def test_the_http_callback_route_is_not_served_in_stream_mode(sb: StreamSandbox):
    assert sb.http is not None
    body = sb.dd.body("c_wu", "走 HTTP 的消息")
    async with sb.http.post(f"{sb.base_url}/dingtalk/dds", json=body, headers=sb.dd.headers()) as r:
        assert r.status == 404


async def test_with_the_bus_failing_the_ack_is_not_ok_and_the_redelivery_is_relayed(
    sb: StreamSandbox, monkeypatch: pytest.MonkeyPatch
):
    assert sb.kefu is not None

    async def down(messages: object) -> int:
        raise BusUnavailable("redis: connection refused")

    monkeypatch.setattr(sb.kefu.host, "ingest", down)  # adapters ingest through their host
    body = sb.dd.body("c_wu", "我的合同呢", msg_id="msg-bus-1")
    mid = await sb.gateway.push_callback(body)
    ack = await sb.gateway.ack_for(mid)
    assert ack["code"] != 200 and ack["headers"]["messageId"] == mid
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == []

    monkeypatch.undo()  # the bus is back; DingTalk delivers the frame again
    await sb.gateway.push_callback(body, mid)
    assert (await sb.gateway.ack_for(mid, nth=2))["code"] == 200
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 吴经理 (钉钉): 我的合同呢"]


async def test_duplicate_frames_give_one_relay(sb: StreamSandbox):
    body = sb.dd.body("c_wu", "请问发票怎么开", msg_id="msg-dup-1")
    for mid in ("f1", "f1", "f2"):  # redelivered, and pushed again under another frame id
        await sb.gateway.push_callback(body, mid)
    assert [(await sb.gateway.ack_for(m, n))["code"] for m, n in (("f1", 1), ("f1", 2), ("f2", 1))] == [200] * 3
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 吴经理 (钉钉): 请问发票怎么开"]


async def test_a_dropped_connection_is_followed_by_a_reconnect(sb: StreamSandbox):
    assert sb.kefu is not None
    stream = sb.kefu.adapters["dds"].stream  # type: ignore[attr-defined]
    stream.backoff_base = 0.05
    sb.gateway.fail(STREAM_OPEN, status=503)  # and the first attempt after it fails: backed off, retried
    await sb.gateway.drop()
    await sb.gateway.wait_for(STREAM_CONNECT, 2)
    assert len(sb.gateway.sent(STREAM_OPEN, accepted=False)) == 3

    mid = await sb.gateway.push_callback(sb.dd.body("c_wu", "断线后还能收到吗"))
    assert (await sb.gateway.ack_for(mid))["code"] == 200
    assert stream.connections == 2
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli")[-1].endswith("断线后还能收到吗")

    # DingTalk's own "disconnect" system frame: acked, then a new connection
    await sb.gateway.push(
        {"specVersion": "1.0", "type": "SYSTEM", "headers": {"topic": "disconnect", "messageId": "sys-1"}, "data": "{}"}
    )
    assert (await sb.gateway.ack_for("sys-1"))["code"] == 200
    await sb.gateway.wait_for(STREAM_CONNECT, 3)


async def test_stop_ends_cleanly(sb: StreamSandbox):
    assert len(stream_tasks()) == 1
    started = time.monotonic()
    await sb.stop_kefu()
    assert time.monotonic() - started < 3
    assert stream_tasks() == []
    for _ in range(50):  # the gateway sees the socket close
        if not sb.gateway.sockets:
            break
        await asyncio.sleep(0.02)
    assert sb.gateway.sockets == []
    await sb.start_kefu()  # and it comes back
    await sb.gateway.wait_for(STREAM_CONNECT, 2)
