"""On Redis, what the webhook accepted survives a kefu restart and is relayed exactly once."""

from __future__ import annotations

import asyncio

import bot.worker
from adapters.sandbox import Sandbox


async def test_message_taken_before_a_restart_is_relayed_once_after_it(pg_database, monkeypatch):
    from tests.conftest import redis_url, reset_pg

    await reset_pg(pg_database)
    sb = Sandbox(storage=pg_database, bus=redis_url(), nicknames={"o_zhangsan": "张三"})
    hold = asyncio.Event()

    async def stuck(handlers, ctx):  # kefu dies while the message is being handled
        await hold.wait()

    async with sb:
        monkeypatch.setattr(bot.worker, "run_chain", stuck)
        status, body = await sb.customer.post(sb.http, sb.customer.text_xml("o_zhangsan", "我的订单还没到", 31337))
        assert (status, body) == (200, "success")
        await asyncio.sleep(0.2)
        await sb.stop_kefu()
        assert sb.wecom.texts_to("lixiaoli") == []

        monkeypatch.undo()
        await sb.start_kefu()
        await sb.settle()
        # the platform's retry after the restart is still dropped
        await sb.customer.post(sb.http, sb.customer.text_xml("o_zhangsan", "我的订单还没到", 31337))
        await sb.settle()
        assert sb.wecom.texts_to("lixiaoli") == ["#1001 张三 (公众号): 我的订单还没到"]


async def _crash_during(monkeypatch, pg_database, target: object, name: str) -> Sandbox:
    """Handle one customer message with `target.name` hanging (kefu dies there), then restart kefu."""
    from tests.conftest import redis_url, reset_pg

    await reset_pg(pg_database)
    sb = Sandbox(storage=pg_database, bus=redis_url(), nicknames={"o_zhangsan": "张三"})
    await sb.start()
    hang = asyncio.Event()

    async def stuck(*args, **kwargs):
        await hang.wait()

    monkeypatch.setattr(target, name, stuck)
    await sb.customer.post(sb.http, sb.customer.text_xml("o_zhangsan", "我的订单还没到", 4242))
    await asyncio.sleep(0.5)
    await sb.stop_kefu()
    monkeypatch.undo()
    await sb.start_kefu()
    await sb.settle()
    return sb


async def test_a_crash_before_the_deliveries_were_queued_is_finished_after_the_restart(pg_database, monkeypatch):
    from bot.app import Runtime

    sb = await _crash_during(monkeypatch, pg_database, Runtime, "enqueue_delivery")
    try:
        assert sb.wecom.texts_to("lixiaoli") == ["#1001 张三 (公众号): 我的订单还没到"]
        rows = [r for r in await sb.kefu.store.transcript() if r["account"] == "mp" and r["direction"] == "in"]
        assert [r["status"] for r in rows] == ["handled"]
    finally:
        await sb.stop()


async def test_a_crash_after_the_deliveries_were_queued_sends_nothing_twice(pg_database, monkeypatch):
    from bot.store import Store

    sb = await _crash_during(monkeypatch, pg_database, Store, "mark_handled")
    try:
        assert sb.wecom.texts_to("lixiaoli") == ["#1001 张三 (公众号): 我的订单还没到"]
        assert sb.wechat.texts_to("o_zhangsan") == ["您好,我是在线客服,很高兴为您服务"]
    finally:
        await sb.stop()
