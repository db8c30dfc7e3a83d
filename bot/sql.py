"""The database drivers under the Store: SQLite (stdlib sqlite3) and PostgreSQL (asyncpg).

One SQL text serves both: statements are written with PostgreSQL's numbered parameters
(`$1`, `$2`), which SQLite reads as `?1`, `?2`. The schema itself is SQLAlchemy's
(bot.storage.metadata, its DDL compiled by SQLAlchemy); the statements a message's handling
runs go straight to the driver, which costs a fraction of the same statement through
SQLAlchemy's async layer (measured in bench/RESULTS.md).

SQLite runs on the event loop's thread: a statement on a local file takes microseconds, less
than handing it to a thread would. One connection writes, behind an asyncio lock a transaction
takes at its first write and holds until it ends; another reads what is committed (WAL). The
write-ahead log is checkpointed from a thread, so the loop never waits for the file to be synced.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

from bot.lone_writes import LoneWrites

__all__ = ["Database", "Conn", "open_database"]

Row = dict[str, Any]


class Conn(ABC):
    """A connection in a transaction (or reading outside one): run statements, get dicts."""

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    @abstractmethod
    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    @abstractmethod
    async def fetchval(self, sql: str, *args: Any) -> Any: ...

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

    async def write_alone(self, sql: str, args: Sequence[Any]) -> None:
        """A write that stands alone and returns nothing anyone needs, committed before this returns."""
        async with self.autocommit() as conn:
            await conn.execute(sql, *args)

    @abstractmethod
    async def close(self) -> None: ...


def open_database(url: str) -> Database:
    """sqlite:///path (or sqlite:///:memory:) or postgresql://user@host:port/db."""
    if url.startswith("sqlite:///"):
        return SqliteDatabase(url.removeprefix("sqlite:///"))
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return PostgresDatabase("postgresql://" + url.removeprefix(scheme))
    raise ValueError(f"storage: unsupported URL {url!r} (sqlite:///FILE or postgresql://…)")


# -- SQLite ---------------------------------------------------------------------------

_PARAM = re.compile(r"\$(\d+)")


_READS = ("SELECT", "EXPLAIN", "PRAGMA")


class _Statement(NamedTuple):
    sql: str  # in SQLite's parameters
    reads: bool  # writes nothing


class _SqliteConn(Conn):
    def __init__(self, db: sqlite3.Connection, sqls: dict[str, _Statement]):
        self._db = db
        self._sqls = sqls

    def _statement(self, sql: str) -> _Statement:
        out = self._sqls.get(sql)
        if out is None:
            out = self._sqls[sql] = _Statement(_PARAM.sub(r"?\1", sql), sql.lstrip()[:7].upper().startswith(_READS))
        return out

    def _sql(self, sql: str) -> str:
        return self._statement(sql).sql

    async def _for(self, sql: str) -> sqlite3.Connection:
        """The connection that runs this statement."""
        return self._db

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        db = await self._for(sql)
        return [dict(r) for r in db.execute(self._sql(sql), args).fetchall()]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row = (await self._for(sql)).execute(self._sql(sql), args).fetchone()
        return dict(row) if row is not None else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = (await self._for(sql)).execute(self._sql(sql), args).fetchone()
        return row[0] if row is not None else None

    async def execute(self, sql: str, *args: Any) -> int:
        return (await self._for(sql)).execute(self._sql(sql), args).rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        (await self._for(sql)).executemany(self._sql(sql), rows)


class _CommittedSqliteConn(_SqliteConn):
    """Reads what is committed, each statement on its own.

    On the writer's connection while no transaction is open on it: its page cache stays warm,
    where the reader's is dropped whenever the writer commits (WAL), so every read there fetches
    its pages again. On the reader's connection otherwise, so a read never waits for a writer."""

    def __init__(self, database: SqliteDatabase):
        super().__init__(database._reader(), database._sqls)
        self._database = database

    async def _for(self, sql: str) -> sqlite3.Connection:
        d = self._database
        # chosen per statement, which runs without yielding to the loop: no transaction can begin between
        return d._write if d._write is not None and not d._lock.locked() else self._db


class _DeferredSqliteConn(_CommittedSqliteConn):
    """A transaction that reads what is committed until its first write, and only then takes the
    write lock: a message whose handling waits on a platform (a customer's name, say) before it
    writes anything holds up no other writer meanwhile."""

    def __init__(self, database: SqliteDatabase):
        super().__init__(database)
        self.began = False

    async def _for(self, sql: str) -> sqlite3.Connection:
        if self.began:
            return self._db
        if self._statement(sql).reads:
            return await super()._for(sql)
        await self._database._lock.acquire()
        try:
            writer = self._database._writer()
            writer.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._database._lock.release()
            raise
        self._db, self.began = writer, True
        return self._db

    def end(self, commit: bool) -> None:
        """Commit (or roll back) what was written, and let the next writer in."""
        if not self.began:
            return
        try:
            if commit:
                self._db.execute("COMMIT")
                self._database._dirty = True
        finally:
            try:
                if self._db.in_transaction:  # not committed: an error in the unit, or in COMMIT itself
                    self._db.execute("ROLLBACK")
            finally:
                self._database._lock.release()


class _Ready:
    """`async with` over a connection that needs no setting up or ending (a committed read)."""

    __slots__ = ("conn",)

    def __init__(self, conn: Conn):
        self.conn = conn

    async def __aenter__(self) -> Conn:
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        return None


class _Autocommit:
    """The writer's connection between transactions, each statement committed on its own.
    A class, not a generator-based context manager: it is entered for every lone statement."""

    __slots__ = ("database", "writes")

    def __init__(self, database: SqliteDatabase, writes: bool = True):
        self.database, self.writes = database, writes

    async def __aenter__(self) -> Conn:
        d = self.database
        await d._lock.acquire()  # not inside another task's transaction on the same connection
        try:
            return _SqliteConn(d._writer() if self.writes else d._reader(), d._sqls)
        except BaseException:
            d._lock.release()
            raise

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.database._lock.release()
        if exc_type is None and self.writes:
            self.database._dirty = True


class SqliteDatabase(Database):
    dialect = "sqlite"
    # writes are one at a time: a second message in hand lets one wait on a platform (a name
    # lookup) without stalling the rest; more would only take the loop from the webhooks
    units_at_once = 2
    checkpoint_every = 1.0  # seconds between WAL checkpoints (from a thread), when something was written
    # Under a steady load a write always follows the snapshot a checkpoint copies up to, so no
    # checkpoint copies the whole log and the next write never starts it over: it only grows
    # (1.2 GB in a 20,000-message run, every page read searching its ever longer index). Once
    # it is longer than this, a second checkpoint follows the first, holding the writers back for
    # what they wrote meanwhile; the file is cut back to this length when the log starts over.
    wal_limit = 16 * 1024 * 1024

    def __init__(self, path: str):
        self.path = path
        self.memory = path == ":memory:" or path == ""
        self._write: sqlite3.Connection | None = None
        self._read: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._sqls: dict[str, _Statement] = {}
        self._dirty = False
        self._checkpointer: asyncio.Task[None] | None = None
        self._committed: _CommittedSqliteConn | None = None

    def _connect(self) -> sqlite3.Connection:
        # autocommit mode: transactions are begun and ended here, explicitly
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        if not self.memory:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run in a thread (below)
            db.execute(f"PRAGMA journal_size_limit={self.wal_limit}")  # the file, once the log starts over
        db.execute("PRAGMA busy_timeout=2000")  # another process (a kefu CLI command) writing
        return db

    def _writer(self) -> sqlite3.Connection:
        if self._write is None:
            self._write = self._connect()
            if not self.memory:
                self._checkpointer = asyncio.get_running_loop().create_task(self._checkpoints(), name="sqlite-wal")
        return self._write

    def _reader(self) -> sqlite3.Connection:
        if self.memory:  # one database only exists on one connection
            return self._writer()
        if self._read is None:
            self._read = self._connect()
        return self._read

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        if self.memory:  # one connection: the transaction holds it from the start
            async with self._lock:
                db = self._writer()
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield _SqliteConn(db, self._sqls)
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            return
        conn = _DeferredSqliteConn(self)
        try:
            yield conn
        except BaseException:
            conn.end(commit=False)
            raise
        conn.end(commit=True)

    def autocommit(self) -> _Autocommit:
        return _Autocommit(self)

    def reader(self) -> Any:
        if self.memory:  # reading the writer's connection: wait for its transaction to end
            return _Autocommit(self, writes=False)
        if self._committed is None:  # it holds no state of its own: one serves every read
            self._committed = _CommittedSqliteConn(self)
        return _Ready(self._committed)

    async def _checkpoints(self) -> None:
        while True:
            await asyncio.sleep(self.checkpoint_every)
            if self._dirty:
                self._dirty = False
                try:
                    await asyncio.to_thread(self._checkpoint, "PASSIVE")
                    if self._wal_size() > self.wal_limit:
                        # what was written during the first: all copied, and the next write starts over
                        async with self._lock:
                            await asyncio.to_thread(self._checkpoint, "PASSIVE")
                except sqlite3.Error as e:  # busy: the next round does it
                    from loguru import logger

                    logger.debug("sqlite checkpoint skipped: {}", e)

    def _wal_size(self) -> int:
        try:
            return os.stat(self.path + "-wal").st_size
        except OSError:
            return 0

    def _checkpoint(self, mode: str) -> None:
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=2000")
            db.execute(f"PRAGMA wal_checkpoint({mode})")
        finally:
            db.close()

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            await asyncio.gather(self._checkpointer, return_exceptions=True)
            self._checkpointer = None
        async with self._lock:
            for db in (self._read, self._write):
                if db is not None:
                    db.close()
            self._read = self._write = None
            self._committed = None
        if not self.memory and self._dirty:
            await asyncio.to_thread(self._checkpoint, "TRUNCATE")
            self._dirty = False


# -- PostgreSQL -----------------------------------------------------------------------


class _PgConn(Conn):
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


class _Pool:
    """asyncpg connections, at most `size`, each used by one task at a time.

    Not asyncpg's own Pool: its acquire and release cost about 117k instructions a statement
    (a proxy object per acquire, a task per release under asyncio.shield), nearly twice the
    statement itself (measured under callgrind: 185k a `SELECT $1` through the pool, 67k on a
    held connection), and most of what kefu runs outside a transaction is one statement.
    """

    idle_for = 300.0  # a connection left idle this long is closed (within twice that)...
    keep = 2  # ...except the last this many used, kept however long kefu is quiet

    def __init__(self, url: str, size: int, *, connect_timeout: float, command_timeout: float):
        self.url = url
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._slots = asyncio.Semaphore(size)
        self._idle: list[tuple[Any, float]] = []  # (connection, when it was put back), oldest first
        self._out: set[Any] = set()
        self._closed = False
        self._trimmer: asyncio.TimerHandle | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._server_error: Any = ()  # asyncpg.PostgresError once connected (before: matches nothing)

    async def acquire(self) -> Any:
        if self._closed:
            raise ConnectionError("storage: the PostgreSQL pool is closed")
        await self._slots.acquire()
        try:
            conn = self._take_idle()
            if conn is None:
                import asyncpg

                self._server_error = asyncpg.PostgresError
                conn = await asyncpg.connect(
                    self.url, timeout=self.connect_timeout, command_timeout=self.command_timeout
                )
            self._out.add(conn)
            return conn
        except BaseException:
            self._slots.release()
            raise

    def _take_idle(self) -> Any:
        while self._idle:
            conn, _ = self._idle.pop()  # the one used last: the warmest
            if not conn.is_closed():
                return conn
            # the server ended it (a restart, an idle timeout): the next one, or connect anew
        return None

    def _trim_later(self) -> None:
        if self._trimmer is None and not self._closed:
            self._trimmer = asyncio.get_running_loop().call_later(self.idle_for, self._trim)

    def _trim(self) -> None:
        """Close what has been idle longer than idle_for, beyond the `keep` used last (a quiet
        kefu holds no more sessions than that, as asyncpg's pool shrank to its min_size)."""
        self._trimmer = None
        cutoff, spare = time.monotonic() - self.idle_for, max(len(self._idle) - self.keep, 0)
        stale = [conn for conn, since in self._idle[:spare] if since <= cutoff]
        if stale:
            self._idle = [(c, since) for c, since in self._idle if c not in stale]
            for conn in stale:
                task = asyncio.get_running_loop().create_task(_close_quietly(conn))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
        if len(self._idle) > self.keep:
            self._trim_later()

    def release(self, conn: Any, error: BaseException | None = None) -> None:
        """Back to the idle list, unless it may be mid-protocol: after an error that is not the
        server's own answer (a cancellation, a timeout, a broken socket), or in a transaction."""
        self._out.discard(conn)
        try:
            clean = error is None or isinstance(error, self._server_error)
            if self._closed or not clean or conn.is_closed() or conn.is_in_transaction():
                conn.terminate()
            else:
                self._idle.append((conn, time.monotonic()))
                if len(self._idle) > self.keep:
                    self._trim_later()
        finally:
            self._slots.release()

    async def close(self) -> None:
        self._closed = True
        if self._trimmer is not None:
            self._trimmer.cancel()
            self._trimmer = None
        idle, self._idle = [c for c, _ in self._idle], []
        await asyncio.gather(*(_close_quietly(c) for c in idle), *self._closing)
        for conn in list(self._out):  # in use at shutdown: a statement the caller gave up on
            conn.terminate()


async def _close_quietly(conn: Any) -> None:
    """End the session politely (the server logs no broken connection), or cut it."""
    try:
        await asyncio.wait_for(conn.close(), 5)
    except Exception:  # a timeout, a socket already broken
        conn.terminate()


class _Borrowed:
    """`async with`: a connection of the pool, in a transaction or not."""

    __slots__ = ("db", "in_transaction", "conn", "tx")

    def __init__(self, db: PostgresDatabase, in_transaction: bool):
        self.db, self.in_transaction = db, in_transaction
        self.conn: Any = None
        self.tx: Any = None

    async def __aenter__(self) -> Conn:
        pool = self.db._pool or await self.db._get_pool()
        self.conn = await pool.acquire()
        if self.in_transaction:
            try:
                self.tx = self.conn.transaction()
                await self.tx.start()
            except BaseException as e:
                pool.release(self.conn, e)
                raise
        return _PgConn(self.conn)

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        pool, error = self.db._pool, exc
        try:
            if self.tx is not None and exc is None:
                try:
                    await self.tx.commit()
                except BaseException as e:
                    error = e
                    raise
            elif self.tx is not None:
                try:
                    await self.tx.rollback()
                except BaseException as e:  # not fit for reuse now; the body's own error stands
                    error = e
                    if not isinstance(e, Exception):
                        raise
        finally:
            if pool is not None:
                pool.release(self.conn, error)
            elif not self.conn.is_closed():  # the database was closed meanwhile
                self.conn.terminate()


class PostgresDatabase(Database):
    dialect = "postgresql"
    # as many as the bus's consumers plus the webhooks, so no message waits for a connection
    pool_size = 24

    def __init__(self, url: str):
        self.url = url
        self._pool: _Pool | None = None
        self._opening = asyncio.Lock()
        self._lone = LoneWrites(self._write_many, super().write_alone)

    async def _get_pool(self) -> _Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    pool = _Pool(self.url, self.pool_size, connect_timeout=10, command_timeout=60)
                    pool.release(await pool.acquire())  # the server is there, or start-up says so
                    self._pool = pool
        return self._pool

    def transaction(self) -> _Borrowed:
        return _Borrowed(self, in_transaction=True)

    def autocommit(self) -> _Borrowed:
        return _Borrowed(self, in_transaction=False)

    reader = autocommit  # outside a transaction every statement sees what is committed

    def write_alone(self, sql: str, args: Sequence[Any]) -> Awaitable[None]:
        """With the others issued meanwhile: one round trip and one commit a batch (bot.lone_writes)."""
        return self._lone.write(sql, args)

    async def _write_many(self, sql: str, rows: list[Sequence[Any]]) -> None:
        async with self.autocommit() as conn:
            await conn.executemany(sql, rows)  # pipelined, all rows or none

    async def close(self) -> None:
        await self._lone.drain()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
