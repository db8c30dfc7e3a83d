"""Each agent's count of open conversations (what capacity and least-busy read) stays equal to
a count of the conversations themselves, whatever happens to them, on both databases."""

from __future__ import annotations

import time

from bot.store import Store


async def counted(store: Store) -> dict[str, int]:
    rows = await store.query(
        "SELECT agent, count(*) AS n FROM conversations WHERE status = 'open' AND agent != '' GROUP BY agent"
    )
    return {r["agent"]: r["n"] for r in rows}


async def test_agent_load_follows_assignment_transfer_unassignment_and_close(store: Store):
    now = time.time()
    a, b, c = [await store.start_conversation("mp", f"o_{k}", f"客户{k}", now) for k in range(3)]
    assert await store.load() == {}
    steps = [
        (a.id, {"agent": "小李", "queued_at": None}),
        (b.id, {"agent": "小李"}),
        (c.id, {"agent": "小王"}),
        (b.id, {"agent": "小王"}),  # /transfer
        (b.id, {"agent": "小王"}),  # the same agent again changes nothing
        (a.id, {"agent": ""}),  # their agent went offline: back to the desk
        (a.id, {"agent": "小李", "told_position": None}),
        (c.id, {"status": "closed", "closed_at": now}),
        (c.id, {"agent": "小李"}),  # a closed conversation counts for nobody
    ]
    for cid, values in steps:
        await store.update_conversation(cid, **values)
        assert await store.load() == await counted(store), values
    async with store.unit():  # inside a message's transaction the same
        await store.close_conversation(a.id, now)
        await store.update_conversation(b.id, agent="小李")
    assert await store.load() == await counted(store) == {"小李": 1}


async def test_a_database_from_before_the_count_is_counted_once_at_start(store: Store):
    now = time.time()
    rows = [
        {
            "account": "mp",
            "customer": f"o_old_{k}",
            "customer_name": "",
            "status": "closed" if k % 3 == 0 else "open",
            "agent": ("小李", "小李", "小王", "")[k % 4],
            "created_at": now,
            "last_message_at": now,
            "category": "",
            "unreachable": "",
            "opened_by": "",
        }
        for k in range(30)
    ]
    await store.insert_rows("conversations", rows)
    async with store.db.transaction() as conn:
        await conn.execute("DROP TABLE agent_load")  # as a database written by an older kefu
    await store.create_tables()
    assert await store.load() == await counted(store)
    assert sum((await store.load()).values()) == 16  # 20 open, 4 of them unassigned
