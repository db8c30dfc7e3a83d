"""`kefu run --workers N`: N processes on one port behave as one desk; a dead one is restarted."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import redis_url, reset_pg
from tests.fleet import Fleet, check_exactly_once_in_order

pytestmark = pytest.mark.timeout(120)


def _workers(pid: int) -> set[int]:
    try:
        return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


async def _until(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError(what)
        await asyncio.sleep(0.1)


async def test_two_workers_share_the_port_and_a_dead_one_is_restarted(pg_database, tmp_path: Path):
    await reset_pg(pg_database)
    async with Fleet(storage=pg_database, bus=redis_url(), workdir=tmp_path) as fleet:
        parent = (await fleet.start("kefu", "--workers", "2")).pid
        await _until(lambda: len(_workers(parent)) == 2, 30, "two workers")
        await fleet.agents_online(via="kefu")
        pusher = fleet.customer("kefu")

        async def write(c: int, count: int, first: int) -> None:
            for i in range(first, first + count):
                xml = pusher.text_xml(f"o_cust{c:03d}", f"c{c:02d}-m{i:03d} 你好", 7_000_000 + c * 1000 + i)
                await fleet.deliver(pusher.signed(xml), ["kefu"])

        await asyncio.gather(*(write(c, 10, 0) for c in range(10)))
        victim = min(_workers(parent))
        os.kill(victim, signal.SIGKILL)
        await _until(lambda: len(_workers(parent) - {victim}) == 2, 30, "the killed worker restarted")
        await asyncio.gather(*(write(c, 10, 10) for c in range(10)))
        check_exactly_once_in_order(await fleet.wait_relays(200, timeout=60), 10, 20)

        kefu = fleet.children.pop("kefu")
        kefu.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(kefu.proc.wait(), 30) == 0
        assert _workers(parent) == set()


def test_workers_need_redis_and_postgresql():
    example = Path(__file__).resolve().parent.parent / "config" / "kefu.example.yaml"  # memory:// and SQLite
    res = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", "--config", str(example), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 2 and "--workers needs a shared bus and database" in res.stderr
