"""PostgreSQL through asyncpg's own pool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from bot.store.db import Conn, Database, Row

__all__ = ["PostgresDatabase"]


class _Conn(Conn):
    def __init__(self, conn: Any):
        self._c = conn

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in await self._c.fetch(sql, *args)]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row = await self._c.fetchrow(sql, *args)
        return dict(row) if row is not None else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._c.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        status = await self._c.execute(sql, *args)  # "UPDATE 2", "INSERT 0 1", "DELETE 0"
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._c.executemany(sql, rows)


class PostgresDatabase(Database):
    dialect = "postgresql"
    # as many as the bus's consumers plus the webhooks, so no message waits for a connection
    pool_size = 24

    def __init__(self, url: str):
        self.url = url
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _get_pool(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                # one connection at once: the server is there, or start-up says so
                self._pool = await asyncpg.create_pool(
                    self.url,
                    min_size=1,
                    max_size=self.pool_size,
                    timeout=10,
                    command_timeout=60,
                    max_inactive_connection_lifetime=300,
                )
        return self._pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        pool = self._pool or await self._get_pool()
        async with pool.acquire() as conn, conn.transaction():
            yield _Conn(conn)

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[Conn]:
        pool = self._pool or await self._get_pool()
        async with pool.acquire() as conn:
            yield _Conn(conn)

    reader = autocommit  # outside a transaction every statement sees what is committed

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), 10)
            except TimeoutError:  # a statement the caller gave up on still holds a connection
                pool.terminate()
