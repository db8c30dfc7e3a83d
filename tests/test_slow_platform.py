"""A platform slow to answer for one customer holds up no other customer's messages."""

from __future__ import annotations

import asyncio
import time

from adapters.sandbox import Sandbox
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
