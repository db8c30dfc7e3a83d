"""Operations: /healthz, /readyz and Prometheus /metrics."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

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
    await asyncio.sleep(0.6)  # the loop is looked at every 0.25 s (an idle kefu wakes for little)
    count, within = await _loop_lag(sb)
    assert count >= 2 and within == count  # ticking, and nothing held the loop

    # held longer than the period plus the bucket, so the wake-up due meanwhile is over 0.25 s late
    time.sleep(0.6)  # noqa: ASYNC251 (kefu's loop held, as by a blocking call in a handler)
    await asyncio.sleep(0.05)
    count_after, within_after = await _loop_lag(sb)
    assert count_after > count and count_after - within_after == 1  # the one late wake-up, over 0.25 s


async def test_readyz_is_503_when_the_bus_is_down(tmp_path):
    sb = Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", bus="redis://127.0.0.1:1/0")
    await sb.wechat.start()
    await sb.wecom.start()
    rt = Runtime(sb.config)
    rt.bus.subscribe = lambda *a, **kw: None  # consumers would only retry against the dead Redis
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


# -- `kefu health`: the container's health check, on the port the config sets ----------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config_on(tmp_path, port: int):
    from pathlib import Path

    import yaml

    raw = yaml.safe_load((Path(__file__).parent.parent / "config" / "kefu.example.yaml").read_text(encoding="utf-8"))
    raw["server"] = {"host": "0.0.0.0", "port": port}  # as in the container: every interface
    raw["storage"] = f"sqlite:///{tmp_path / 'kefu.db'}"
    path = tmp_path / "kefu.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _kefu(*args: str, **kw):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, timeout=60, **kw)


def test_kefu_health_is_0_for_a_running_kefu_on_the_port_its_config_sets(tmp_path):
    import socket
    import subprocess
    import sys

    port = _free_port()
    assert port != 8080
    config = _config_on(tmp_path, port)
    kefu = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert kefu.poll() is None and time.monotonic() < deadline, "kefu did not start"
                time.sleep(0.2)
        r = _kefu("health", "--config", str(config))
        assert r.returncode == 0, r.stderr
    finally:
        kefu.terminate()
        kefu.wait(30)


def test_kefu_health_is_1_when_nothing_answers_on_that_port(tmp_path):
    port = _free_port()
    r = _kefu("health", "--config", str(_config_on(tmp_path, port)))
    assert r.returncode == 1
    assert f"127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr


async def test_a_port_already_taken_is_named_at_start_up(local_sandbox: Sandbox):
    sb = local_sandbox
    cfg = sb.config.model_copy(update={"server": sb.config.server.model_copy(update={"port": sb.kefu.port})})
    rt = Runtime(cfg)
    try:
        with pytest.raises(OSError, match=rf"server.host, server.port: cannot listen on 127.0.0.1:{sb.kefu.port}"):
            await rt.start()
    finally:
        await rt.stop()
