"""What the timer loop asks at each run, and a restart asks once, is read through an index:
its cost does not grow with the transcript (on SQLite it runs on the event loop itself)."""

from __future__ import annotations

import pytest

from bot.store import Store

QUERIES = [
    ("SELECT * FROM messages WHERE status = 'retry'", (), "ix_messages_retry"),  # Store.take_retries
    (
        "SELECT * FROM messages WHERE direction = 'out' AND status IN ('pending', 'sending') ORDER BY id",
        (),
        "ix_messages_unfinished",  # Store.unfinished_deliveries
    ),
    ("SELECT * FROM timers WHERE fired_at IS NULL AND due_at <= $1 ORDER BY due_at", (1.0,), "ix_timers_unfired"),
    ("SELECT MIN(due_at) AS due FROM timers WHERE fired_at IS NULL", (), "ix_timers_unfired"),  # next_timer_due
]


@pytest.mark.parametrize(("sql", "args", "index"), QUERIES, ids=[q[2] for q in QUERIES])
async def test_timer_loop_queries_use_their_index(store: Store, sql: str, args: tuple, index: str):
    await store.insert_rows("messages", [_row(i) for i in range(5000)])  # a day's transcript, all finished
    await store.insert_rows("timers", [_timer(i) for i in range(2000)])  # and its timers, fired
    if store.dialect == "postgresql":
        async with store.db.autocommit() as conn:
            await conn.execute("ANALYZE")
        plan = await store.query("EXPLAIN " + sql, *args)
    else:
        plan = await store.query("EXPLAIN QUERY PLAN " + sql, *args)
    assert index in " ".join(str(v) for row in plan for v in row.values())


def _row(i: int) -> dict:
    out = i % 2 == 1
    return {
        "uid": f"m{i}",
        "conversation_id": i // 8,
        "direction": "out" if out else "in",
        "account": "mp" if not out else "desk",
        "party": f"o_{i // 8}",
        "party_name": "",
        "kind": "text",
        "text": "您好",
        "data": "{}",
        "external_id": None if out else f"x{i}",
        "purpose": "relay" if out else "",
        "status": "sent" if out else "handled",
        "error": "",
        "created_at": 1.0 + i,
        "updated_at": 1.0 + i,
    }


def _timer(i: int) -> dict:
    return {"kind": "first_response", "conversation_id": i, "due_at": 0.5 + i / 10_000, "marker": None, "fired_at": 2.0}
