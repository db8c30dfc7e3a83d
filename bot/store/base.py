"""The Store's footing: its database, the unit of work (one transaction for one handled
message), one-statement helpers that join the unit when there is one, and the schema's upkeep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateColumn, CreateIndex, CreateTable

from bot.store.db import Conn, Database, Row
from bot.store.postgres import PostgresDatabase
from bot.store.schema import agent_load, metadata
from bot.store.sqlite import SqliteDatabase

__all__ = ["StoreBase", "open_database"]


def open_database(url: str) -> Database:
    """sqlite:///path (or sqlite:///:memory:) or postgresql://user@host:port/db."""
    if url.startswith("sqlite:///"):
        return SqliteDatabase(url.removeprefix("sqlite:///"))
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return PostgresDatabase("postgresql://" + url.removeprefix(scheme))
    raise ValueError(f"storage: unsupported URL {url!r} (sqlite:///FILE or postgresql://…)")


_UNIT: ContextVar[Conn | None] = ContextVar("kefu_store_unit", default=None)


class StoreBase:
    def __init__(self, url: str):
        self.url = url
        self.db: Database = open_database(url)
        self.dialect = self.db.dialect

    # -- connections: one transaction per call, or one for a whole unit of work ----------

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[None]:
        """Everything the Store does inside runs in one transaction (one handled message):
        committed together at the end, or not at all."""
        if _UNIT.get() is not None:
            yield
            return
        async with self.db.transaction() as conn:
            token = _UNIT.set(conn)
            try:
                yield
            finally:
                _UNIT.reset(token)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[Conn]:
        """Writes: the unit's connection, or each statement committed on its own outside one."""
        if (conn := _UNIT.get()) is not None:
            yield conn
            return
        async with self.db.autocommit() as conn:
            yield conn

    @asynccontextmanager
    async def _changing(self) -> AsyncIterator[Conn]:
        """Several statements that belong together: the unit's, or a transaction of their own."""
        if (conn := _UNIT.get()) is not None:
            yield conn
            return
        async with self.db.transaction() as conn:
            yield conn

    async def _rows(self, sql: str, *args: Any) -> list[Row]:
        if (conn := _UNIT.get()) is not None:
            return await conn.fetch(sql, *args)
        async with self.db.reader() as conn:
            return await conn.fetch(sql, *args)

    async def _row(self, sql: str, *args: Any) -> Row | None:
        if (conn := _UNIT.get()) is not None:
            return await conn.fetchrow(sql, *args)
        async with self.db.reader() as conn:
            return await conn.fetchrow(sql, *args)

    async def _value(self, sql: str, *args: Any) -> Any:
        if (conn := _UNIT.get()) is not None:
            return await conn.fetchval(sql, *args)
        async with self.db.reader() as conn:
            return await conn.fetchval(sql, *args)

    async def _exec(self, sql: str, *args: Any) -> int:
        if (conn := _UNIT.get()) is not None:
            return await conn.execute(sql, *args)
        async with self.db.autocommit() as conn:  # outside a unit each statement stands alone
            return await conn.execute(sql, *args)

    async def query(self, sql: str, *args: Any) -> list[Row]:
        """Rows of a read-only statement (`$1` parameters), for tools and tests."""
        return await self._rows(sql, *args)

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> bool:
        async with self.db.reader() as conn:
            await conn.fetchval("SELECT 1")
        return True

    # -- schema --------------------------------------------------------------------

    async def create_tables(self) -> None:
        """Create what is missing (tables, indexes, columns added since); safe to run from many
        processes. What exists is read from the catalog first: a restart beside running processes
        issues no DDL, whose table locks deadlocked against their writes."""
        dialect = postgresql.dialect() if self.dialect == "postgresql" else sqlite.dialect()
        async with self.db.transaction() as conn:
            if self.dialect == "postgresql":  # two processes starting at once must not both create a table
                await conn.execute("SELECT pg_advisory_xact_lock(7415201)")
            tables, indexes = await self._existing(conn)
            count_load = agent_load.name not in tables  # new, or a database from before it
            for table in metadata.sorted_tables:
                if table.name not in tables:
                    await conn.execute(str(CreateTable(table, if_not_exists=True).compile(dialect=dialect)))
                for index in sorted(table.indexes, key=lambda i: i.name or ""):
                    if index.name not in indexes:
                        await conn.execute(str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect)))
                have = await self._columns(conn, table.name)
                for col in table.columns:
                    if col.name not in have:
                        ddl = CreateColumn(col).compile(dialect=dialect)
                        default = col.default.arg if col.default is not None and not callable(col.default.arg) else None
                        extra = f" DEFAULT '{default}'" if isinstance(default, str) else ""
                        await conn.execute(f"ALTER TABLE {table.name} ADD COLUMN {ddl}{extra}")
            if count_load:
                await self._recount_load(conn)

    async def _existing(self, conn: Conn) -> tuple[set[str], set[str]]:
        """The tables and the indexes the database has (catalog reads: no lock on a table)."""
        if self.dialect == "postgresql":
            tables = await conn.fetch(
                "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()"
            )
            indexes = await conn.fetch("SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema()")
        else:
            tables = await conn.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")
            indexes = await conn.fetch("SELECT name FROM sqlite_master WHERE type = 'index'")
        return {r["name"] for r in tables}, {r["name"] for r in indexes}

    async def _columns(self, conn: Conn, table: str) -> set[str]:
        if self.dialect == "postgresql":
            rows = await conn.fetch(
                "SELECT column_name AS name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = $1",
                table,
            )
        else:
            rows = await conn.fetch(f"SELECT name FROM pragma_table_info('{table}')")
        return {r["name"] for r in rows}

    async def recount_load(self) -> None:
        """Count each agent's open conversations afresh (after rows were written around the Store)."""
        async with self.db.transaction() as conn:
            await self._recount_load(conn)

    @staticmethod
    async def _recount_load(conn: Conn) -> None:
        await conn.execute("DELETE FROM agent_load")
        await conn.execute(
            "INSERT INTO agent_load (agent, open_count) SELECT agent, count(*) FROM conversations "
            "WHERE status = 'open' AND agent != '' GROUP BY agent"
        )

    async def drop_tables(self) -> None:
        """Drop every table of kefu's (tests and the benchmark start from empty storage)."""
        async with self.db.transaction() as conn:
            for table in reversed(metadata.sorted_tables):
                await conn.execute(f"DROP TABLE IF EXISTS {table.name}")

    async def insert_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Bulk insert (the benchmark seeds storage with it); every row has the same keys."""
        if not rows:
            return
        cols = list(rows[0])
        unknown = set(cols) - {c.name for c in metadata.tables[table].columns}
        if unknown:
            raise ValueError(f"{table}: no such columns {sorted(unknown)}")
        params = ", ".join(f"${k + 1}" for k in range(len(cols)))
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({params})"
        async with self.db.transaction() as conn:
            await conn.executemany(sql, [tuple(r[c] for c in cols) for r in rows])
