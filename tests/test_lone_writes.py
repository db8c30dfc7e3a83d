"""Lone writes together (bot/lone_writes.py), against the real PostgreSQL server: the outcomes
of many deliveries finished at once are all recorded, in fewer round trips than rows; one bad
row fails only its own caller; an outage reaches every caller as an outage; closing the
database first writes what was issued."""

from __future__ import annotations

import asyncio
import socket

import asyncpg
import pytest

from bot.errors import is_outage
from bot.model import Delivery
from bot.sql import PostgresDatabase
from bot.storage import Store

_KV = "CREATE TABLE IF NOT EXISTS lone_test (k text PRIMARY KEY, v text NOT NULL)"
_PUT = "INSERT INTO lone_test (k, v) VALUES ($1, $2)"


def _counting_batches(db: PostgresDatabase) -> list[int]:
    """The size of each batch sent as one executemany (the real call, only counted)."""
    sizes: list[int] = []
    many = db._lone._many

    async def counted(sql: str, rows: list) -> None:
        sizes.append(len(rows))
        await many(sql, rows)

    db._lone._many = counted
    return sizes


async def _fresh_table(db: PostgresDatabase) -> None:
    async with db.autocommit() as conn:
        await conn.execute(_KV)
        await conn.execute("TRUNCATE lone_test")


async def test_deliveries_finished_at_once_are_all_recorded_in_fewer_round_trips(pg_database: str):
    store = Store(pg_database)
    await store.drop_tables()
    await store.create_tables()
    try:
        sizes = _counting_batches(store.db)
        ds = [Delivery(account="wecom", to=f"agent{i}", text="转给您一位客户", purpose="relay") for i in range(40)]
        for d in ds:
            assert await store.record_delivery(d, "", 1.0) == "new"
        # forty senders finishing in the same turn of the loop, as a backlog drains
        await asyncio.gather(
            *(store.finish_delivery(d.id, "sent", 2.0, external_id=f"msg{i}") for i, d in enumerate(ds))
        )
        assert [await store.delivery_status(d.id) for d in ds] == ["sent"] * 40
        rows = await store.query("SELECT external_id FROM messages WHERE direction = 'out' ORDER BY party")
        assert sorted(r["external_id"] for r in rows) == sorted(f"msg{i}" for i in range(40))
        assert sum(sizes) == 40 and len(sizes) < 40  # together, not one round trip each
    finally:
        await store.close()


async def test_one_bad_row_fails_only_its_own_caller(pg_database: str):
    db = PostgresDatabase(pg_database)
    try:
        await _fresh_table(db)
        await db.write_alone(_PUT, ("taken", "first"))
        results = await asyncio.gather(
            *(db.write_alone(_PUT, (f"k{i}", "v")) for i in range(5)),
            db.write_alone(_PUT, ("taken", "again")),  # a duplicate key: its whole batch fails at first
            return_exceptions=True,
        )
        assert results[:5] == [None] * 5
        assert isinstance(results[5], asyncpg.UniqueViolationError) and not is_outage(results[5])
        async with db.reader() as conn:
            rows = await conn.fetch("SELECT k, v FROM lone_test ORDER BY k")
        assert rows == [{"k": f"k{i}", "v": "v"} for i in range(5)] + [{"k": "taken", "v": "first"}]
    finally:
        await db.close()


async def test_an_outage_reaches_every_caller_as_an_outage():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = PostgresDatabase(f"postgresql://postgres@127.0.0.1:{port}/nowhere")
    try:
        writes = [db.write_alone(_PUT, (f"k{i}", "v")) for i in range(4)]
        results = await asyncio.gather(*writes, return_exceptions=True)
        assert len(results) == 4 and all(isinstance(r, Exception) and is_outage(r) for r in results), results
    finally:
        await db.close()


async def test_closing_first_writes_what_was_issued(pg_database: str):
    db = PostgresDatabase(pg_database)
    await _fresh_table(db)
    writes = [asyncio.create_task(db.write_alone(_PUT, (f"k{i}", "v"))) for i in range(10)]
    await asyncio.sleep(0)  # issued, not yet written
    await db.close()
    assert all(w.done() and w.exception() is None for w in writes)
    check = PostgresDatabase(pg_database)
    try:
        async with check.reader() as conn:
            assert await conn.fetchval("SELECT count(*) FROM lone_test") == 10
    finally:
        await check.close()


@pytest.mark.parametrize("rows", [1, 3])
async def test_a_write_inside_a_unit_is_part_of_its_transaction(pg_database: str, rows: int):
    """Inside a handled message's unit a lone write is one of its statements: rolled back with it."""
    store = Store(pg_database)
    await store.drop_tables()
    await store.create_tables()
    try:
        ds = [Delivery(account="wecom", to=f"agent{i}", text="转给您一位客户", purpose="relay") for i in range(rows)]
        for d in ds:
            await store.record_delivery(d, "", 1.0)
        with pytest.raises(RuntimeError):
            async with store.unit():
                for d in ds:
                    await store.finish_delivery(d.id, "sent", 2.0)
                raise RuntimeError("the handling failed")
        assert [await store.delivery_status(d.id) for d in ds] == ["pending"] * rows
    finally:
        await store.close()
