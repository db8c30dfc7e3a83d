"""Fixtures: the two engine pairs (memory+SQLite, Redis+PostgreSQL) and a running sandbox.

Redis and PostgreSQL tests run against the real servers on 127.0.0.1. Locally they are
skipped when a server is absent; under CI (CI=true) an absent server fails the run.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from adapters.sandbox import Sandbox
from bot.store import Store

REDIS_URL = os.environ.get("KEFU_TEST_REDIS", "redis://127.0.0.1:6379/15")
PG_ADMIN = os.environ.get("KEFU_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def need_server(name: str, port: int) -> None:
    if _reachable(port):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{name} on 127.0.0.1:{port} is required in CI but is not reachable")
    pytest.skip(f"{name} on 127.0.0.1:{port} is not running")


@pytest.fixture(scope="session")
def pg_database() -> str:
    """A fresh PostgreSQL database for this test session; dropped at the end."""
    need_server("PostgreSQL", 5432)
    import asyncpg

    name = f"kefu_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = PG_ADMIN.replace("postgresql://", "postgres://")

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def blocking(sql: str) -> None:  # may be first asked for from inside a running loop
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, run(sql)).result()

    blocking(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    blocking(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def reset_pg(url: str) -> None:
    from bot.store import Store

    store = Store(url)
    await store.drop_tables()
    await store.close()


def redis_url() -> str:
    need_server("Redis", 6379)
    return f"{REDIS_URL}?prefix=kefu-test-{uuid.uuid4().hex[:8]}:"


@pytest.fixture(params=["memory+sqlite", "redis+postgres"])
async def engines(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[tuple[str, str]]:
    """(bus, storage) for each engine pair."""
    if request.param == "memory+sqlite":
        yield "memory://", f"sqlite:///{tmp_path / 'kefu.db'}"
        return
    pg = request.getfixturevalue("pg_database")
    await reset_pg(pg)
    yield redis_url(), pg


@pytest.fixture
async def store(engines: tuple[str, str]) -> AsyncIterator[Store]:
    """The storage of each engine pair, its tables created, on its own (no kefu running)."""
    st = Store(engines[1])
    await st.create_tables()
    yield st
    await st.close()


@pytest.fixture
async def sandbox(engines: tuple[str, str]) -> AsyncIterator[Sandbox]:
    bus, storage = engines
    async with Sandbox(storage=storage, bus=bus, nicknames={"o_zhangsan": "张三"}) as sb:
        yield sb


@pytest.fixture
async def local_sandbox(tmp_path) -> AsyncIterator[Sandbox]:
    """The embedded default only, for tests about one adapter's wire format."""
    async with Sandbox(storage=f"sqlite:///{tmp_path / 'kefu.db'}", nicknames={"o_zhangsan": "张三"}) as sb:
        yield sb


@pytest.fixture
async def sandbox_two(tmp_path) -> AsyncIterator[Sandbox]:
    """Two online agents of capacity 1 each, on the embedded default."""
    extra = {
        "agents": [
            {"name": "小李", "ids": {"desk": "lixiaoli"}, "capacity": 1},
            {"name": "小王", "ids": {"desk": "wangxiaowang"}, "capacity": 1},
        ]
    }
    names = {"o_zhangsan": "张三", "o_lisi": "李四", "o_wangwu": "王五"}
    async with Sandbox(storage=f"sqlite:///{tmp_path / 'kefu.db'}", nicknames=names, extra=extra) as sb:
        yield sb
