"""Access tokens fetched once, shared, refreshed on 40001/40014/42001; transient faults retried."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from adapters.sandbox import Sandbox
from adapters.wechat.client import WeChatClient
from adapters.wechat.emulator import CS_SEND, WeChatEmulator
from bot.sender import Sender
from bot.state import MemoryState, RedisState
from tests.conftest import redis_url


async def _relay_one(sb: Sandbox, msg_id: int) -> None:
    await sb.customer.post(sb.http, sb.customer.text_xml("o_zhangsan", f"问题 {msg_id}", msg_id))
    await sb.settle()


async def test_token_is_fetched_once_and_reused(local_sandbox: Sandbox):
    sb = local_sandbox
    for i in range(5):
        await _relay_one(sb, 100 + i)
    assert len(sb.wechat.sent("/cgi-bin/token")) == 1
    assert len(sb.wecom.sent("/cgi-bin/gettoken")) == 0  # fetched once already, when the agents went online


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
async def test_a_refused_token_is_refreshed_once_and_the_send_retried(local_sandbox: Sandbox, errcode: int):
    sb = local_sandbox
    await _relay_one(sb, 200)
    sent_before = len(sb.wechat.texts_to("o_zhangsan"))
    sb.wechat.fail(CS_SEND, errcode)
    await sb.kefu.store.set_current("小李", 1, 0)
    await sb.desk.post(sb.http, sb.desk.text_xml("lixiaoli", "#1001 您好,已为您查询", 201))
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan")[sent_before:] == ["您好,已为您查询"]
    assert len(sb.wechat.sent("/cgi-bin/token")) == 2


async def test_an_expired_token_at_the_platform_is_replaced(local_sandbox: Sandbox):
    sb = local_sandbox
    await _relay_one(sb, 300)
    sb.wechat.expire_tokens()
    sb.wecom.expire_tokens()
    await _relay_one(sb, 301)
    assert len(sb.wecom.texts_to("lixiaoli")) == 2
    assert len(sb.wecom.sent("/cgi-bin/gettoken")) == 1


async def test_server_errors_and_timeouts_are_retried_then_delivered(local_sandbox: Sandbox, monkeypatch):
    monkeypatch.setattr(Sender, "base_delay", 0.01)
    sb = local_sandbox
    sb.wecom.fail("/cgi-bin/message/send", status=502, times=2)
    sb.wecom.fail("/cgi-bin/message/send", -1)  # "system busy"
    await _relay_one(sb, 400)
    assert len(sb.wecom.texts_to("lixiaoli")) == 1
    relay = [r for r in await sb.kefu.store.transcript() if r["purpose"] == "relay" and r["party"] == "lixiaoli"]
    assert relay[0]["status"] == "sent"


async def test_a_delivery_that_keeps_failing_is_marked_failed(local_sandbox: Sandbox, monkeypatch):
    monkeypatch.setattr(Sender, "base_delay", 0.01)
    sb = local_sandbox
    sb.wecom.fail("/cgi-bin/message/send", status=503, times=100)
    await _relay_one(sb, 500)
    rows = [r for r in await sb.kefu.store.transcript() if r["purpose"] == "relay"]
    assert rows and all(r["status"] == "failed" and "HTTP 503" in r["error"] for r in rows)


@pytest.mark.parametrize("engine", ["memory", "redis"])
async def test_concurrent_senders_share_one_token_fetch(engine: str):
    emu = WeChatEmulator("wx_app", "wx_secret")
    await emu.start()
    state = MemoryState()
    redis = None
    if engine == "redis":
        import redis.asyncio as aioredis

        url, _, prefix = redis_url().partition("?prefix=")
        redis = aioredis.from_url(url)
        state = RedisState(redis, prefix=prefix)
    try:
        async with aiohttp.ClientSession() as http:
            # several clients = several processes sharing one state
            clients = [WeChatClient(emu.base_url, http, state, "wx_app", "wx_secret") for _ in range(4)]
            tokens = await asyncio.gather(*(c.token() for c in clients for _ in range(5)))
            assert len(set(tokens)) == 1
            assert len(emu.sent("/cgi-bin/token")) == 1
    finally:
        await emu.stop()
        if redis is not None:
            await redis.aclose()
