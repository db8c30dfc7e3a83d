"""The database under the Store: a connection in a transaction, or reading, or writing alone.

One SQL text serves both engines: statements use PostgreSQL's numbered parameters (`$1`, `$2`),
which SQLite reads as `?1`, `?2`. SQLite runs on aiosqlite's thread, never on the event loop;
PostgreSQL goes through asyncpg's own pool.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

__all__ = ["Database", "Conn", "Row"]

Row = dict[str, Any]


class Conn(ABC):
    """A connection in a transaction (or reading outside one): run statements, get dicts."""

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return next(iter(row.values())) if row else None

    @abstractmethod
    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; the number of rows it changed."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


class Database(ABC):
    dialect: str
    # messages worth handling at once in one process (None: as many as the bus's partitions)
    units_at_once: int | None = None

    @abstractmethod
    def transaction(self) -> Any:
        """`async with db.transaction() as conn`: committed at the end, rolled back on an error."""

    @abstractmethod
    def autocommit(self) -> Any:
        """`async with db.autocommit() as conn`: writes, each statement committed on its own."""

    @abstractmethod
    def reader(self) -> Any:
        """`async with db.reader() as conn`: reads what is committed, outside any transaction."""

    @abstractmethod
    async def close(self) -> None: ...
