"""Storage on PostgreSQL (asyncpg's pool, bot/store/postgres.py) against the real server: a
connection the server ended is replaced, a statement cut off leaves the next ones working, a
failed transaction is rolled back, no more than the pool's size are open, and a closed
database refuses as an outage."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from bot.errors import is_outage
from bot.store.postgres import PostgresDatabase


async def _admin(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url.replace("postgresql://", "postgres://"))


async def _sessions(admin: asyncpg.Connection) -> int:
    """kefu's sessions on this database: the admin's own left out, and a backend still
    sleeping out a statement whose client was cut off in another test."""
    return await admin.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND query NOT LIKE '%pg_sleep(5)%'"
    )


async def _pid(db: PostgresDatabase) -> int:
    async with db.reader() as conn:
        return await conn.fetchval("SELECT pg_backend_pid()")


async def test_a_connection_the_server_ended_is_replaced_not_handed_out(pg_database: str):
    db, admin = PostgresDatabase(pg_database), await _admin(pg_database)
    try:
        first = await _pid(db)
        assert await _pid(db) == first  # put back and taken again: one session serves
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        await asyncio.sleep(0.2)  # the client sees its socket closed
        assert await _pid(db) != first  # a new session, and no error for the caller
    finally:
        await db.close()
        await admin.close()


async def test_a_statement_cut_off_leaves_its_connection_out_of_the_pool(pg_database: str):
    db = PostgresDatabase(pg_database)
    try:
        first = await _pid(db)

        async def slow() -> None:
            async with db.reader() as conn:
                await conn.execute("SELECT pg_sleep(5)")

        task = asyncio.create_task(slow())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the cancelled one may still be mid-protocol: the next statements work all the same
        assert await _pid(db) > 0 and first > 0
        async with db.transaction() as conn:
            assert await conn.fetchval("SELECT 41 + 1") == 42
    finally:
        await db.close()


async def test_a_failed_transaction_is_rolled_back_and_its_connection_kept(pg_database: str):
    db = PostgresDatabase(pg_database)
    try:
        async with db.autocommit() as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS pool_t (k int PRIMARY KEY)")
            await conn.execute("DELETE FROM pool_t")
        first = await _pid(db)
        with pytest.raises(asyncpg.UniqueViolationError):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO pool_t VALUES (1)")
                await conn.execute("INSERT INTO pool_t VALUES (1)")
        assert await _pid(db) == first  # the server's own error leaves the session clean
        async with db.reader() as conn:
            assert await conn.fetchval("SELECT count(*) FROM pool_t") == 0
            await conn.execute("DROP TABLE pool_t")
    finally:
        await db.close()


async def test_no_more_connections_than_the_pool_size_and_every_caller_served(pg_database: str):
    db, admin = PostgresDatabase(pg_database), await _admin(pg_database)
    db.pool_size = 3
    seen: list[int] = []
    asking = asyncio.Lock()  # one admin connection: one question at a time
    try:

        async def unit(i: int) -> None:
            async with db.transaction() as conn:
                await conn.execute("SELECT pg_sleep(0.05)")
                async with asking:
                    seen.append(await _sessions(admin))
                assert await conn.fetchval("SELECT $1::int", i) == i

        await asyncio.gather(*(unit(i) for i in range(12)))
        assert len(seen) == 12 and max(seen) <= 3, seen
    finally:
        await db.close()
        for _ in range(50):  # closed with the database (the server notices within moments)
            if await _sessions(admin) == 0:
                break
            await asyncio.sleep(0.05)
        assert await _sessions(admin) == 0
        await admin.close()


async def test_a_closed_database_refuses_as_an_outage(pg_database: str):
    db = PostgresDatabase(pg_database)
    await _pid(db)
    await db.close()
    db._pool = await db._get_pool()  # a statement racing the shutdown finds the pool closed
    await db._pool.close()
    with pytest.raises(asyncpg.InterfaceError) as e:
        async with db.reader() as conn:
            await conn.fetchval("SELECT 1")
    assert is_outage(e.value)  # the bus waits and tries again, as for a server that is down


def test_a_connection_taken_while_the_server_ends_it_counts_as_an_outage():
    """Ended by the server while idle, a connection may have read the server's last error (and not
    yet its end) when the next statement comes; asyncpg then raises this, which must be tried
    again on a fresh connection, not skipped as a bad message. (Met under traffic in
    test_faults.py's sessions-ended test: three messages were skipped before this.)"""
    from asyncpg.exceptions._base import InternalClientError

    assert is_outage(InternalClientError("cannot switch to state 15; another operation (2) is in progress"))
    assert not is_outage(InternalClientError("unexpected codec"))  # other client errors are bugs, not outages


async def test_a_process_starting_beside_a_writing_one_issues_no_ddl_and_does_not_wait(pg_database: str):
    """A restarted process's start-up once ran CREATE INDEX IF NOT EXISTS on every table in one
    transaction: it waited for (and deadlocked against) the running processes' write locks."""
    from bot.store import Store
    from tests.conftest import reset_pg

    await reset_pg(pg_database)
    first = Store(pg_database)
    await first.create_tables()
    writer = await _admin(pg_database)
    second = Store(pg_database)
    try:
        tx = writer.transaction()
        await tx.start()  # a running process, mid-unit: it holds its tables' write locks
        await writer.execute("INSERT INTO timers (kind, conversation_id, due_at) VALUES ('first_response', 1, 1)")
        await writer.execute("UPDATE conversations SET status = status")
        await asyncio.wait_for(second.create_tables(), 5)
        await tx.rollback()
    finally:
        await writer.close()
        await first.close()
        await second.close()
