"""Operations: /healthz, /readyz and Prometheus /metrics."""

from __future__ import annotations

import asyncio
import re
import time

from adapters.sandbox import Sandbox
from bot.app import Runtime


async def test_readyz_and_metrics_after_a_conversation(local_sandbox: Sandbox):
    sb = local_sandbox
    async with sb.http.get(sb.base_url + "/readyz") as r:
        assert r.status == 200 and (await r.json())["status"] == "ready"
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    await sb.say("lixiaoli", "#1001 您好,已为您查询,明天送达")
    await sb.settle()
    async with sb.http.get(sb.base_url + "/metrics") as r:
        assert r.status == 200 and r.content_type == "text/plain"
        text = await r.text()
    lines = set(text.splitlines())
    assert 'kefu_messages_in_total{account="mp",platform="wechat"} 2.0' in lines
    assert 'kefu_messages_in_total{account="desk",platform="wecom"} 3.0' in lines  # two 上线 and the answer
    assert 'kefu_messages_out_total{account="mp",platform="wechat",purpose="reply",result="sent"} 1.0' in lines
    assert 'kefu_messages_out_total{account="desk",platform="wecom",purpose="relay",result="sent"} 2.0' in lines
    assert "kefu_first_response_seconds_count 1.0" in lines
    assert "kefu_agents_online 2.0" in lines
    assert "kefu_queue_length 0.0" in lines


async def _loop_lag(sb: Sandbox) -> tuple[float, float]:
    """(timer wake-ups observed, of which at most 0.25 s late) from /metrics."""
    async with sb.http.get(sb.base_url + "/metrics") as r:
        text = await r.text()
    count = float(re.search(r"^kefu_loop_lag_seconds_count (\S+)$", text, re.M).group(1))
    within = float(re.search(r'^kefu_loop_lag_seconds_bucket\{le="0.25"\} (\S+)$', text, re.M).group(1))
    return count, within


async def test_a_stalled_event_loop_shows_in_the_loop_lag_metric(local_sandbox: Sandbox):
    sb = local_sandbox
    await asyncio.sleep(0.1)
    count, within = await _loop_lag(sb)
    assert count >= 2 and within == count  # ticking, and nothing held the loop

    time.sleep(0.4)  # noqa: ASYNC251 (kefu's loop held, as by a blocking call in a handler)
    await asyncio.sleep(0.05)
    count_after, within_after = await _loop_lag(sb)
    assert count_after > count and count_after - within_after == 1  # the one late wake-up, over 0.25 s


async def test_readyz_is_503_when_the_bus_is_down(tmp_path):
    sb = Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", bus="redis://127.0.0.1:1/0")
    await sb.wechat.start()
    await sb.wecom.start()
    rt = Runtime(sb.config)
    rt.bus.subscribe = lambda *a: None  # consumers would only retry against the dead Redis
    await rt.start()
    try:
        import aiohttp

        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{rt.port}/readyz") as r:
                assert r.status == 503 and (await r.json())["state"].startswith("down")
            async with http.get(f"http://127.0.0.1:{rt.port}/healthz") as r:
                assert r.status == 200 and (await r.json())["status"] == "degraded"
    finally:
        await rt.stop()
        await sb.wechat.stop()
        await sb.wecom.stop()
