"""The embedded default (in-process bus, SQLite) keeps what it acknowledged: a real `kefu run`
killed with SIGKILL in the middle of a burst, then started again, relays every message whose
callback was answered "success" exactly once, and each customer's messages in order."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from adapters.wecom.emulator import APP_SEND
from tests.fleet import Fleet, check_exactly_once_in_order

pytestmark = pytest.mark.timeout(180)

CUSTOMERS, PER_CUSTOMER = 10, 30  # 300 messages


async def _customer(fleet: Fleet, c: int, done: list[int]) -> None:
    """One customer writing fast, each message after the last was taken (retried as WeChat does)."""
    pusher = fleet.customer("a")
    for i in range(PER_CUSTOMER):
        text = f"c{c:02d}-m{i:03d} 请问我的订单什么时候发货"
        await fleet.deliver(pusher.signed(pusher.text_xml(f"o_cust{c:03d}", text, 7_000_000 + c * 1000 + i)), ["a"])
        done[0] += 1


def _unhandled(db: Path) -> tuple[int, int]:
    """(inbound messages in the transcript not handled, bus entries left on disk)."""
    with sqlite3.connect(db) as conn:
        left = conn.execute("SELECT count(*) FROM messages WHERE direction = 'in' AND status != 'handled'").fetchone()
        entries = conn.execute("SELECT count(*) FROM bus").fetchone()
    return left[0], entries[0]


async def test_a_kill_during_a_burst_loses_and_doubles_no_acknowledged_message(tmp_path: Path):
    db = tmp_path / "kefu.db"
    async with Fleet(storage=f"sqlite:///{db}", bus="memory://", workdir=tmp_path) as fleet:
        await fleet.start("a")
        await fleet.agents_online(via="a")
        done = [0]
        writers = [asyncio.create_task(_customer(fleet, c, done)) for c in range(CUSTOMERS)]
        total = CUSTOMERS * PER_CUSTOMER
        while done[0] < total // 2:  # noqa: ASYNC110 (midway: the acknowledged backlog is not yet relayed)
            await asyncio.sleep(0.01)
        fleet.kill("a")
        await fleet.wait_dead("a")
        killed_at, relayed_at_kill = done[0], len(set(fleet.relays()))
        await asyncio.sleep(0.5)  # callbacks meanwhile are refused or cut off, and retried
        await fleet.start("a")
        await asyncio.gather(*writers)

        relays = await fleet.wait_relays(total, timeout=120)
        check_exactly_once_in_order(relays, CUSTOMERS, PER_CUSTOMER)
        assert fleet.cut_off + fleet.refused > 0, "the kill should have cut some callbacks off"
        assert relayed_at_kill < killed_at, "the kill should have come with acknowledged messages not yet relayed"
        for _ in range(50):  # the last entries are dropped just after their relay
            if _unhandled(db) == (0, 0):
                break
            await asyncio.sleep(0.1)
        assert _unhandled(db) == (0, 0)
        assert len(fleet.sb.wecom.sent(APP_SEND)) >= total
        print(
            f"\nkilled after {killed_at} of {total} callbacks were acknowledged, {relayed_at_kill} relayed by then; "
            f"{fleet.cut_off} cut off and {fleet.refused} refused, all retried; every message relayed once, in order"
        )
