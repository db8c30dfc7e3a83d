"""SQLite through aiosqlite: every statement runs on the connection's own thread, never on the loop.

One connection writes, behind an asyncio lock that a transaction takes at its first write and
holds until it ends; another reads what is committed (WAL), so a read never waits for a writer.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import aiosqlite

from bot.store.db import Conn, Database, Row

__all__ = ["SqliteDatabase"]

_PARAM = re.compile(r"\$(\d+)")
_READS = ("SELECT", "EXPLAIN", "PRAGMA")


@lru_cache(maxsize=1024)
def _sql(sql: str) -> str:
    return _PARAM.sub(r"?\1", sql)


@lru_cache(maxsize=1024)
def _reads(sql: str) -> bool:
    return sql.lstrip()[:7].upper().startswith(_READS)


class _Conn(Conn):
    def __init__(self, db: aiosqlite.Connection | None):
        self._db = db

    async def _for(self, sql: str) -> aiosqlite.Connection:
        assert self._db is not None
        return self._db

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in await (await self._for(sql)).execute_fetchall(_sql(sql), args)]

    async def execute(self, sql: str, *args: Any) -> int:
        cursor = await (await self._for(sql)).execute(_sql(sql), args)
        return cursor.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await (await self._for(sql)).executemany(_sql(sql), rows)


class _Deferred(_Conn):
    """A transaction that reads what is committed until its first write, and only then takes the
    write lock: a message whose handling waits on a platform (a customer's name, say) before it
    writes anything holds up no other writer meanwhile."""

    def __init__(self, database: SqliteDatabase):
        super().__init__(None)
        self._database = database
        self._beginning = asyncio.Lock()

    async def _for(self, sql: str) -> aiosqlite.Connection:
        if self._db is not None:
            return self._db
        d = self._database
        if _reads(sql):
            return d._read
        async with self._beginning:  # two statements of the unit at once: one begins, the other joins it
            if self._db is None:
                await d._lock.acquire()
                try:
                    await d._write.execute("BEGIN IMMEDIATE")
                except BaseException:
                    d._lock.release()
                    raise
                self._db = d._write
        return self._db

    async def end(self, commit: bool) -> None:
        """Commit (or roll back) what was written, and let the next writer in."""
        if self._db is None:
            return
        try:
            if commit:
                await self._db.execute("COMMIT")
        finally:
            try:
                if self._db.in_transaction:  # not committed: an error in the unit, or in COMMIT itself
                    await asyncio.shield(self._db.execute("ROLLBACK"))
            finally:
                self._database._lock.release()


class SqliteDatabase(Database):
    dialect = "sqlite"
    # writes are one at a time: a second message in hand lets one wait on a platform (a name
    # lookup) without stalling the rest
    units_at_once = 2

    def __init__(self, path: str):
        self.path = path
        self.memory = path in (":memory:", "")
        self._lock = asyncio.Lock()
        self._opening = asyncio.Lock()
        self._write: aiosqlite.Connection = None  # type: ignore[assignment]  # opened by _open
        self._read: aiosqlite.Connection = None  # type: ignore[assignment]

    async def _connect(self) -> aiosqlite.Connection:
        # autocommit mode: transactions are begun and ended here, explicitly
        pending = aiosqlite.connect(self.path, isolation_level=None)
        try:
            db = await pending
        except BaseException:
            # its thread still reports the failure to this loop: let it, before the loop may close
            thread = getattr(pending, "_thread", None)
            if thread is not None:
                await asyncio.to_thread(thread.join, 2)
            raise
        db.row_factory = sqlite3.Row
        if not self.memory:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")  # a commit survives kefu being killed
        await db.execute("PRAGMA busy_timeout=2000")  # another process (a kefu CLI command) writing
        return db

    async def _open(self) -> None:
        async with self._opening:
            if self._write is None:
                self._write = await self._connect()
                # one in-memory database lives on one connection only
                self._read = self._write if self.memory else await self._connect()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        if self._write is None:
            await self._open()
        if self.memory:  # one connection: the transaction holds it from the start
            async with self._lock:
                await self._write.execute("BEGIN IMMEDIATE")
                try:
                    yield _Conn(self._write)
                except BaseException:
                    if self._write.in_transaction:
                        await asyncio.shield(self._write.execute("ROLLBACK"))
                    raise
                await self._write.execute("COMMIT")
            return
        conn = _Deferred(self)
        try:
            yield conn
        except BaseException:
            await conn.end(commit=False)
            raise
        await conn.end(commit=True)

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[Conn]:
        if self._write is None:
            await self._open()
        async with self._lock:  # not inside another task's transaction on the same connection
            yield _Conn(self._write)

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Conn]:
        if self._write is None:
            await self._open()
        if self.memory:  # the writer's connection: wait for its transaction to end
            async with self._lock:
                yield _Conn(self._write)
            return
        yield _Conn(self._read)

    async def close(self) -> None:
        async with self._lock:
            write, read = self._write, self._read
            self._write = self._read = None  # type: ignore[assignment]
            # the last connection to close checkpoints the log into the file (SQLite's own doing)
            for db in {id(c): c for c in (read, write) if c is not None}.values():
                await db.close()
