"""Fault injection with real kefu processes on Redis and PostgreSQL: a process killed with
SIGKILL under traffic, Redis stopped under traffic. Nothing the webhooks took may be lost,
nothing may reach the desk twice, and each customer's messages keep their order.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time
from collections import Counter
from pathlib import Path

import asyncpg
import pytest

from adapters.wechat.emulator import CS_SEND
from adapters.wecom.emulator import APP_SEND
from bot.sender import UNCERTAIN
from tests.conftest import redis_url, reset_pg
from tests.fleet import MARK, Fleet, check_exactly_once_in_order, secrets_in

pytestmark = pytest.mark.timeout(240)  # each scenario is bounded; a hang fails, never stalls CI


async def _transcript(pg: str) -> tuple[dict[tuple[str, str, str], int], list[dict]]:
    """(rows counted by direction, status, purpose; the outbound rows not sent)."""
    conn = await asyncpg.connect(pg.replace("postgresql://", "postgres://"))
    try:
        rows = await conn.fetch(
            "SELECT direction, status, purpose, count(*) AS n FROM messages GROUP BY direction, status, purpose"
        )
        unsent = await conn.fetch(
            "SELECT party, purpose, status, error FROM messages WHERE direction = 'out' AND status <> 'sent'"
        )
    finally:
        await conn.close()
    return {(r["direction"], r["status"], r["purpose"]): r["n"] for r in rows}, [dict(r) for r in unsent]


async def _check_outcome(fleet: Fleet, pg: str, relays: list, customers: int, per_customer: int) -> int:
    """Each message at the desk once and in order; the transcript holds every message handled.

    Each customer is greeted once and never twice. A greeting cut off mid-send by the kill is
    not sent again (WeChat's send has no duplicate check): it is in the dead-letter list as
    uncertain (it may or may not have arrived). Returns how many of those there were.
    """
    try:
        check_exactly_once_in_order(relays, customers, per_customer)
    except AssertionError as e:  # say where the first missing messages went, for a run that cannot be repeated
        raise AssertionError(f"{e}\n{await _whereabouts(fleet, pg, relays, customers, per_customer)}") from None
    for _ in range(100):  # the relays are in; a greeting may still be on its way (a consumer in backoff)
        counts, unsent = await _transcript(pg)
        if not any(r["status"] in ("pending", "sending") for r in unsent):
            break
        await asyncio.sleep(0.1)
    handled = counts.pop(("in", "handled", ""), 0)
    assert handled == customers * per_customer + len(fleet.sb.agents), counts  # + each agent's 上线
    uncertain = [r for r in unsent if r["status"] == "failed" and r["error"] == UNCERTAIN]
    assert all(r["purpose"] == "greeting" for r in uncertain) and len(uncertain) == len(unsent), unsent
    greeted = Counter(c.body["touser"] for c in fleet.sb.wechat.sent(CS_SEND))
    in_doubt = {r["party"] for r in uncertain}
    for c in range(customers):
        openid = f"o_cust{c:03d}"
        assert greeted[openid] == 1 or (greeted[openid] == 0 and openid in in_doubt), (openid, greeted, unsent)
    return len(uncertain)


async def _whereabouts(fleet: Fleet, pg: str, relays: list, customers: int, per_customer: int) -> str:
    """For the first few messages never relayed: the desk calls and transcript rows that name them."""
    seen = set(relays)
    missing = [(c, i) for c in range(customers) for i in range(per_customer) if (c, i) not in seen][:3]
    conn = await asyncpg.connect(pg.replace("postgresql://", "postgres://"))
    try:
        lines = []
        for c, i in missing:
            mark = f"c{c:02d}-m{i:03d}"
            calls = [
                f"{x.errcode}/{x.duplicate}: {str(x.body)[:120]}" for x in fleet.sb.wecom.calls if mark in str(x.body)
            ]
            rows = await conn.fetch(
                "SELECT direction, status, purpose, party, conversation_id, error FROM messages WHERE text LIKE $1",
                f"%{mark}%",
            )
            lines.append(f"{mark}: desk calls {calls}; transcript {[dict(r) for r in rows]}")
        return "\n".join(lines)
    finally:
        await conn.close()


def _text(c: int, i: int) -> str:
    return f"c{c:02d}-m{i:03d} 请问我的订单什么时候发货"


async def _customer(fleet: Fleet, c: int, count: int, via: list[str], done: list[int]) -> None:
    """One customer writing `count` messages, each after the previous one was taken."""
    pusher = fleet.customer(via[0])
    for i in range(count):
        signed = pusher.signed(pusher.text_xml(f"o_cust{c:03d}", _text(c, i), 5_000_000 + c * 1000 + i))
        await fleet.deliver(signed, random.sample(via, len(via)))
        done[0] += 1


async def test_a_process_killed_midway_loses_and_doubles_nothing(pg_database, tmp_path: Path):
    customers, per_customer = 50, 40
    await reset_pg(pg_database)
    async with Fleet(storage=pg_database, bus=redis_url(), workdir=tmp_path) as fleet:
        await fleet.start("a")
        await fleet.start("b")
        await fleet.agents_online(via="a")
        done = [0]
        writers = [asyncio.create_task(_customer(fleet, c, per_customer, ["a", "b"], done)) for c in range(customers)]
        total = customers * per_customer
        while done[0] < total // 2:  # noqa: ASYNC110 (midway: kill one process with everything in flight)
            await asyncio.sleep(0.05)
        fleet.kill("a")
        await fleet.wait_dead("a")
        killed_at = done[0]
        await asyncio.sleep(1.0)  # callbacks meanwhile find "a" gone and are taken by "b"
        await fleet.start("a")
        await asyncio.gather(*writers)

        relays = await fleet.wait_relays(total, timeout=120)
        uncertain = await _check_outcome(fleet, pg_database, relays, customers, per_customer)
        assert fleet.cut_off > 0, "the kill should have cut some callbacks off"
        logs = fleet.logs()
        assert not secrets_in(logs, fleet.sb), "a configured secret is in the logs"
        print(
            f"\nkilled after {killed_at} of {total} callbacks; {fleet.cut_off} callbacks cut off and "
            f"{fleet.refused} refused, all retried; {len(relays)} relays, each once, in order; "
            f"{uncertain} greetings cut off mid-send left as uncertain dead letters"
        )


async def test_five_processes_over_a_slow_platform_make_every_platform_call_once(pg_database, tmp_path: Path):
    """Leases are renewed apart from the work, and a process checks its lease before each send: with
    five processes sharing the partitions (three joining under traffic, so partitions change hands)
    and platforms that take 0.4 s a call, no platform call is made twice (counted at the emulators)."""
    customers, per_customer = 24, 10
    await reset_pg(pg_database)
    async with Fleet(storage=pg_database, bus=redis_url(), workdir=tmp_path) as fleet:
        sb = fleet.sb
        sb.agents = {"小李": "lixiaoli", "小王": "wangxiaowang", "小张": "zhangxiaozhang", "小赵": "zhaoxiaozhao"}
        sb.wecom.fail(APP_SEND, delay=0.4, times=1_000_000)  # every call takes 0.4 s, then is carried out
        sb.wechat.fail(CS_SEND, delay=0.4, times=1_000_000)
        await fleet.start("a")
        await fleet.start("b")
        await fleet.agents_online(via="a", timeout=30)
        done = [0]
        writers = [asyncio.create_task(_customer(fleet, c, per_customer, ["a", "b"], done)) for c in range(customers)]
        for name in ("c", "d", "e"):  # each join makes the others hand partitions over mid-traffic
            await asyncio.sleep(1.0)
            await fleet.start(name)
        await asyncio.gather(*writers)
        total = customers * per_customer
        await fleet.wait_relays(total, timeout=120)
        await asyncio.sleep(1.0)  # a second process's send would be on its way by now

        calls = Counter(MARK.search(str(c.body.get("text", {}).get("content", ""))) is not None and MARK.search(
            str(c.body["text"]["content"])).group(0) for c in sb.wecom.sent(APP_SEND, accepted=False))
        calls.pop(False, None)
        assert len(calls) == total, f"{total - len(calls)} relays never sent"
        twice = {m: n for m, n in calls.items() if n > 1}
        assert not twice, f"relays sent more than once: {sorted(twice.items())[:10]}"
        greetings = Counter(c.body["touser"] for c in sb.wechat.sent(CS_SEND, accepted=False))
        assert set(greetings.values()) == {1} and len(greetings) == customers, greetings
        check_exactly_once_in_order(fleet.relays(), customers, per_customer)
        print(f"\n5 processes, 0.4 s a platform call: {total} relays and {customers} greetings, each call made once")


class PrivateRedis:
    """A redis-server of the test's own (append-only file, fsync always), to stop and start again
    without disturbing the shared one: a stop loses nothing it acknowledged, as in production."""

    def __init__(self, workdir: Path):
        from bench.procs import free_port

        self.port = free_port()
        self.dir = workdir / "redis"
        self.dir.mkdir(exist_ok=True)
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            (pytest.fail if os.environ.get("CI") else pytest.skip)("redis-server is not installed")
        argv = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", ""]
        argv += ["--appendonly", "yes", "--appendfsync", "always", "--logfile", str(self.dir / "redis.log")]
        self.proc = await asyncio.create_subprocess_exec(binary, *argv, stdin=asyncio.subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                _, w = await asyncio.open_connection("127.0.0.1", self.port)
                w.close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError("the test's redis-server did not start")

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.terminate()  # SHUTDOWN: the append-only file is flushed
            await asyncio.wait_for(self.proc.wait(), 10)


async def test_redis_stopped_for_five_seconds_under_traffic(pg_database, tmp_path: Path):
    customers, per_customer = 20, 20
    await reset_pg(pg_database)
    redis = PrivateRedis(tmp_path)
    await redis.start()
    bus = f"redis://127.0.0.1:{redis.port}/0?prefix=kefu-outage:"
    try:
        async with Fleet(storage=pg_database, bus=bus, workdir=tmp_path) as fleet:
            await fleet.start("a")
            await fleet.start("b")
            await fleet.agents_online(via="a")
            done = [0]
            writers = [
                asyncio.create_task(_customer(fleet, c, per_customer, ["a", "b"], done)) for c in range(customers)
            ]
            total = customers * per_customer
            while done[0] < total // 4:  # noqa: ASYNC110 (a quarter in: stop Redis)
                await asyncio.sleep(0.02)
            await redis.stop()
            await asyncio.sleep(0.5)  # answers already on their way when it stopped
            taken_before = done[0]
            await asyncio.sleep(4.5)
            refused_in_gap, taken_in_gap = fleet.refused, done[0] - taken_before
            await redis.start()
            await asyncio.gather(*writers)

            relays = await fleet.wait_relays(total, timeout=120)
            await _check_outcome(fleet, pg_database, relays, customers, per_customer)
            assert refused_in_gap > 0 and taken_in_gap == 0, (refused_in_gap, taken_in_gap)
            assert not secrets_in(fleet.logs(), fleet.sb)
            _outage_logged_once_each_way(fleet, f"Redis at 127.0.0.1:{redis.port}/0")
            print(
                f"\nRedis down for 5 s after {taken_before} of {total} callbacks: {refused_in_gap} answered "
                f"with an error meanwhile and none taken; after it came back all {len(relays)} relayed once, in order"
            )
    finally:
        await redis.stop()


def _outage_logged_once_each_way(fleet: Fleet, server: str) -> None:
    """Each process says once that the server is unreachable, naming its address, and once that
    it is back; no traceback, and no per-consumer or per-callback warnings about it."""
    for path in sorted(fleet.workdir.glob("*.log")):
        log = path.read_text(errors="replace")
        lines = log.splitlines()
        assert sum(f"{server} is unreachable" in line for line in lines) == 1, (path.name, log[-3000:])
        assert sum(f"{server} is reachable again after" in line for line in lines) == 1, (path.name, log[-3000:])
        assert "Traceback" not in log, (path.name, log[-3000:])
        assert len([ln for ln in lines if "| WARNING" in ln or "| ERROR" in ln]) <= 4, (path.name, log[-3000:])


async def test_postgresql_ending_every_session_under_traffic_loses_and_doubles_nothing(pg_database, tmp_path: Path):
    """The server ends all of kefu's sessions three times over (a failover, an admin's
    pg_terminate_backend): statements in flight fail and are tried again, idle connections are
    replaced in asyncpg's pool (bot/store/postgres.py), and every message reaches the desk once, in order."""
    customers, per_customer = 20, 20
    await reset_pg(pg_database)
    admin = await asyncpg.connect(pg_database.replace("postgresql://", "postgres://"))
    try:
        async with Fleet(storage=pg_database, bus=redis_url(), workdir=tmp_path) as fleet:
            await fleet.start("a")
            await fleet.agents_online(via="a")
            done = [0]
            writers = [asyncio.create_task(_customer(fleet, c, per_customer, ["a"], done)) for c in range(customers)]
            total, ended = customers * per_customer, 0
            for share in (0.2, 0.4, 0.6):
                while done[0] < total * share:  # noqa: ASYNC110 (at a fifth, two fifths, three fifths in)
                    await asyncio.sleep(0.02)
                ended += await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            await asyncio.gather(*writers)

            relays = await fleet.wait_relays(total, timeout=120)
            await _check_outcome(fleet, pg_database, relays, customers, per_customer)
            assert ended >= 3, ended  # kefu had sessions open each time
            logs = fleet.logs()  # a statement in flight was cut off, and retried: one line each way
            assert "the database at 127.0.0.1:5432/" in logs and "is unreachable" in logs, logs[-2000:]
            assert "is reachable again after" in logs
            print(f"\n{ended} PostgreSQL sessions ended in three rounds; all {len(relays)} relays once, in order")
    finally:
        await admin.close()
