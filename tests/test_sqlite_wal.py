"""The embedded default's write-ahead log under a load that never lets up: it starts over
instead of growing for as long as the writes go on (bot/sql.py, SqliteDatabase)."""

from __future__ import annotations

import asyncio
import os
import time

from bot.sql import SqliteDatabase


async def test_the_log_stays_bounded_while_writes_never_pause(tmp_path):
    db = SqliteDatabase(str(tmp_path / "kefu.db"))
    db.checkpoint_every = 0.02  # the same rounds as every second, fifty times as often
    db.wal_limit = 256 * 1024
    wal = str(tmp_path / "kefu.db-wal")
    try:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        biggest, writes, started = 0, 0, time.monotonic()
        while time.monotonic() - started < 1.5:
            async with db.transaction() as conn:  # as a message's unit: a row added, another changed
                await conn.execute("INSERT INTO t (v) VALUES ($1)", "消息" * 100)
                await conn.execute("UPDATE t SET v = $1 WHERE id = $2", "已处理" * 60, writes // 2 + 1)
            writes += 1
            if writes % 20 == 0:
                await asyncio.sleep(0)  # the loop turns, as between a desk's messages
                biggest = max(biggest, os.stat(wal).st_size)
        async with db.reader() as conn:
            assert await conn.fetchval("SELECT count(*) FROM t") == writes
        # some 4 KiB frames a write: without starting over the log grows by all of them
        written = writes * 2 * 4096
        assert written > 40 * 1024 * 1024, written  # enough writes for the difference to show
        assert biggest < written / 8, (biggest, written)
    finally:
        await db.close()
