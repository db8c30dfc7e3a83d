"""A platform slow to answer for one customer holds up no other customer's messages, and a slow
send to one recipient holds up no other recipient's (bot.lanes), on both engine pairs."""

from __future__ import annotations

import asyncio
import time

from adapters.sandbox import Sandbox
from adapters.wechat.emulator import CS_SEND
from adapters.wecom.emulator import APP_SEND
from bot.bus import partition_of


def _apart(first: str) -> str:
    """An openid whose messages another bus partition handles than `first`'s."""
    return next(f"o_other{k}" for k in range(100) if partition_of(f"mp:o_other{k}") != partition_of(f"mp:{first}"))


async def test_a_slow_name_lookup_holds_up_no_other_customer(sandbox: Sandbox):
    sb, slow = sandbox, "o_slowname"
    other = _apart(slow)
    sb.wechat.fail("/cgi-bin/user/info", delay=2.0)  # the next name lookup takes 2 s to answer
    assert await sb.write(slow, "你好,我想咨询一下") == (200, "success")
    await asyncio.sleep(0.2)  # kefu is now waiting for the slow customer's name
    started = time.monotonic()
    assert await sb.write(other, "我的订单还没到") == (200, "success")
    while not any("我的订单还没到" in t for t in sb.wecom.texts_to("lixiaoli") + sb.wecom.texts_to("wangxiaowang")):
        assert time.monotonic() - started < 1.5, "the other customer waited for the slow lookup"
        await asyncio.sleep(0.02)
    await sb.settle()
    relayed = sb.wecom.texts_to("lixiaoli") + sb.wecom.texts_to("wangxiaowang")
    assert any("你好,我想咨询一下" in t for t in relayed), "the slow customer is served too, once it answers"


def _customer_sharing_a_partition_with(key: str) -> str:
    """A customer whose deliveries fall in the same outbound partition as `key`'s."""
    return next(f"o_slow{n}" for n in range(1000) if partition_of(f"mp:o_slow{n}") == partition_of(key))


async def test_a_slow_reply_to_one_customer_does_not_hold_up_relays_to_the_agent(engines):
    bus, storage = engines
    slow = _customer_sharing_a_partition_with("desk:lixiaoli")
    extra = {"server": {"host": "127.0.0.1", "port": 0, "api_timeout": 20}}
    async with Sandbox(storage=storage, bus=bus, extra=extra, nicknames={slow: "张三"}) as sb:
        await sb.write(slow, "我的订单还没到")
        await sb.settle()
        sb.wechat.fail(CS_SEND, delay=6.0)  # the Official Account's API takes 6 s over the next send
        await sb.say("lixiaoli", "#1001 您好,已为您查询,明天送达")
        await sb.wechat.wait_for(CS_SEND, 2)  # the greeting, then the reply: now hanging
        relays_before = len(sb.wecom.sent(APP_SEND))
        started = time.monotonic()
        await sb.write(slow, "那我等着")  # relayed to the agent on WeCom, in the slow reply's partition
        await sb.wecom.wait_for(APP_SEND, relays_before + 1, timeout=4.0)
        waited = time.monotonic() - started
        assert sb.wecom.texts_to("lixiaoli")[-1] == "#1001 张三 (公众号): 那我等着"
        assert waited < 3.0, f"the relay waited {waited:.1f}s behind another recipient's send"
        await sb.settle(timeout=15)
        assert sb.wechat.texts_to(slow)[-1] == "您好,已为您查询,明天送达"


async def test_one_recipients_deliveries_stay_in_order_behind_a_slow_one(engines):
    bus, storage = engines
    extra = {"server": {"host": "127.0.0.1", "port": 0, "api_timeout": 20}}
    async with Sandbox(storage=storage, bus=bus, extra=extra, nicknames={"o_zhangsan": "张三"}) as sb:
        await sb.write("o_zhangsan", "我的订单还没到")
        await sb.settle()
        sb.wechat.fail(CS_SEND, delay=2.0)  # the first of three answers is slow
        for n in range(3):
            await sb.say("lixiaoli", f"#1001 第 {n + 1} 条答复")
        await asyncio.sleep(0.1)
        await sb.settle(timeout=15)
        assert sb.wechat.texts_to("o_zhangsan")[-3:] == ["第 1 条答复", "第 2 条答复", "第 3 条答复"]
