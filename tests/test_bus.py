"""The bus keeps one key's messages in order; Redis keeps what was taken but not finished."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import redis.asyncio as aioredis

from adapters.sandbox import Sandbox
from bot.bus import MemoryBus, RedisBus
from bot.errors import BusUnavailable
from tests.conftest import redis_url


def _redis() -> tuple[aioredis.Redis, str]:
    url, _, prefix = redis_url().partition("?prefix=")
    return aioredis.from_url(url), prefix


@pytest.mark.parametrize("engine", ["memory", "redis"])
async def test_messages_of_one_key_are_handled_in_order(engine: str):
    redis = None
    if engine == "memory":
        bus = MemoryBus()
    else:
        redis, prefix = _redis()
        bus = RedisBus(redis, prefix=prefix)
    seen: dict[str, list[int]] = {}

    async def handler(payload: dict) -> None:
        await asyncio.sleep(0.001 * (payload["n"] % 3))  # uneven work must not reorder
        seen.setdefault(payload["key"], []).append(payload["n"])

    bus.subscribe("t", handler)
    await bus.start()
    try:
        for n in range(60):
            key = f"customer-{n % 6}"
            await bus.publish("t", key, {"key": key, "n": n})
        await bus.drain(10)
    finally:
        await bus.close()
        if redis is not None:
            await redis.aclose()
    assert sorted(seen) == [f"customer-{i}" for i in range(6)]
    for key, ns in seen.items():
        assert ns == sorted(ns) and len(ns) == 10, key


async def test_redis_replays_what_a_stopped_consumer_took_but_did_not_finish():
    redis, prefix = _redis()
    handled: list[int] = []
    gate = asyncio.Event()

    async def stuck(payload: dict) -> None:
        await gate.wait()  # the process dies while handling

    first = RedisBus(redis, prefix=prefix, partitions=1)
    first.subscribe("t", stuck)
    await first.start()
    await first.publish("t", "k", {"n": 1})
    await asyncio.sleep(0.3)
    await first.close()  # taken, never acked

    async def works(payload: dict) -> None:
        handled.append(payload["n"])

    second = RedisBus(redis, prefix=prefix, partitions=1)
    second.consumer = first.consumer  # the same process, restarted
    second.subscribe("t", works)
    await second.start()
    try:
        await second.drain(5)
    finally:
        await second.close()
        await redis.aclose()
    assert handled == [1]


async def test_publish_to_an_unreachable_redis_raises_bus_unavailable():
    redis = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    bus = RedisBus(redis)
    with pytest.raises(BusUnavailable):
        await bus.publish("t", "k", {"n": 1})
    await redis.aclose()


async def test_webhook_answers_503_when_the_message_cannot_be_stored(tmp_path):
    """Never 'success' for a message not stored: the platform must retry."""
    redis_url()  # Redis must be there for the rest of this sandbox
    sb = Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", bus="redis://127.0.0.1:1/0")
    await sb.wechat.start()
    await sb.wecom.start()
    from bot.app import Runtime

    rt = Runtime(sb.config)
    rt.bus.subscribe = lambda *a, **k: None  # consumers would only retry against the dead Redis
    await rt.start()
    try:
        url = f"http://127.0.0.1:{rt.port}/wechat/mp"
        from adapters.wechat.emulator import WeChatPusher

        pusher = WeChatPusher(url, sb.wx_token, sb.wechat.app_id, sb.wx_key)
        async with aiohttp.ClientSession() as http:
            status, _ = await pusher.post(http, pusher.text_xml("o_x", "在吗", 77))
        assert status == 503
    finally:
        await rt.stop()
        await sb.wechat.stop()
        await sb.wecom.stop()


async def test_two_processes_split_the_partitions_and_take_over_a_dead_ones_work(monkeypatch):
    """Each partition has one consumer at a time; a crashed process's partitions, and the entry
    it was holding, go to the survivor: every message handled once, each key in order."""
    monkeypatch.setattr(RedisBus, "lease_ms", 1500)
    monkeypatch.setattr(RedisBus, "heartbeat", 0.2)
    redis, prefix = _redis()
    handled: list[tuple[str, int, str]] = []
    frozen = asyncio.Event()

    def handler_for(name: str, freeze_after: int | None):
        async def handle(payload: dict) -> None:
            if freeze_after is not None and sum(1 for h in handled if h[2] == name) >= freeze_after:
                frozen.set()
                await asyncio.Event().wait()  # the process hangs, then is killed
            handled.append((payload["key"], payload["n"], name))

        return handle

    a, b = RedisBus(redis, prefix=prefix), RedisBus(redis, prefix=prefix)
    a.subscribe("t", handler_for("a", None))
    b.subscribe("t", handler_for("b", 20))
    await a.start()
    await b.start()
    try:
        for _ in range(100):  # b joins: a hands back half the partitions
            if len(a._owned.get("t", ())) == 4 and len(b._owned.get("t", ())) == 4:
                break
            await asyncio.sleep(0.05)
        assert len(a._owned["t"]) == 4 and len(b._owned["t"]) == 4
        for n in range(200):
            key = f"customer-{n % 20}"
            await a.publish("t", key, {"key": key, "n": n})
        await asyncio.wait_for(frozen.wait(), 10)
        # kill b: no release, no goodbye (its leases and its membership must age out)
        monkeypatch.setattr(b, "_release", _noop)
        b._beat.cancel()
        for t in list(b._tasks):
            t.cancel()
        await a.drain(20)
    finally:
        await a.close()
        await redis.aclose()
    assert sorted((k, n) for k, n, _ in handled) == sorted((f"customer-{n % 20}", n) for n in range(200))
    for key in {k for k, _, _ in handled}:
        ns = [n for k, n, _ in handled if k == key]
        assert ns == sorted(ns), key
    assert {w for _, _, w in handled} == {"a", "b"}


async def _noop(*args, **kwargs) -> None:
    return None


async def test_two_first_assignments_of_one_agent_at_once_do_not_fail(engines):
    """set_current is an upsert: the race the benchmark found lost a relay on PostgreSQL."""
    from bot.store import Store

    store = Store(engines[1])
    await store.create_tables()
    try:
        await asyncio.gather(*(store.set_current("小李", n, float(n)) for n in range(1, 9)))
        assert await store.current_of("小李") in range(1, 9)
        await asyncio.gather(*(store.set_value("cursor", str(n), 0.0) for n in range(5)))
        assert await store.get_value("cursor") in {str(n) for n in range(5)}
    finally:
        await store.close()
