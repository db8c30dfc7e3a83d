"""Automatic pipelining (bot/redis_pipe.py) on the real Redis: commands issued together go in
one round trip on the pipeline's own connection, each caller gets its own reply, an error reply
fails only its own command, and a connection cut off mid-use costs that batch, never the
alignment of later replies."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.redis_pipe import AutoPipeline
from tests.conftest import REDIS_URL, need_server


@pytest.fixture
async def redis():
    need_server("Redis", 6379)
    client = aioredis.from_url(REDIS_URL)
    yield client
    await client.aclose()


def _key() -> str:
    return f"kefu-test-pipe:{uuid.uuid4().hex}"


class CountedPipeline(AutoPipeline):
    batches = 0

    async def _send(self, batch):  # type: ignore[no-untyped-def]
        self.batches += 1
        await super()._send(batch)


async def test_every_caller_gets_its_own_reply(redis) -> None:
    pipe = CountedPipeline(redis)
    keys = [_key() for _ in range(300)]
    try:
        await asyncio.gather(*(pipe.execute("SET", k, str(n), "PX", 60_000) for n, k in enumerate(keys)))
        assert pipe.batches <= 2  # issued in one turn of the loop: one round trip per 256 commands
        values = await asyncio.gather(*(pipe.execute("GET", k) for k in keys))
        assert values == [str(n).encode() for n in range(300)]
    finally:
        await redis.delete(*keys)
        await pipe.close()


async def test_an_error_reply_fails_only_its_own_command(redis) -> None:
    pipe = AutoPipeline(redis)
    text, number = _key(), _key()
    try:
        await redis.set(text, "not a number", px=60_000)
        before, bad, after = await asyncio.gather(
            pipe.execute("INCR", number),
            pipe.execute("INCR", text),
            pipe.execute("INCR", number),
            return_exceptions=True,
        )
        assert (before, after) == (1, 2)
        assert isinstance(bad, aioredis.ResponseError) and "not an integer" in str(bad)
    finally:
        await redis.delete(text, number)
        await pipe.close()


async def test_a_script_is_loaded_when_redis_does_not_know_it(redis) -> None:
    pipe = AutoPipeline(redis)
    script = f"-- {uuid.uuid4().hex}\nreturn ARGV[1]"  # a script this Redis has never seen (NOSCRIPT)
    try:
        assert await pipe.script(script, [], ["loaded"]) == b"loaded"
    finally:
        await pipe.close()


async def test_a_connection_cut_off_fails_its_batch_and_the_next_starts_afresh(redis) -> None:
    pipe = AutoPipeline(redis)
    key = _key()
    try:
        await pipe.execute("SET", key, "kept", "PX", 60_000)
        own_id = await pipe.execute("CLIENT", "ID")
        await redis.execute_command("CLIENT", "KILL", "ID", own_id)  # as a Redis restart would
        with pytest.raises(aioredis.ConnectionError):
            await pipe.execute("GET", key)
        # a fresh connection, and the replies are the new commands' own
        assert await pipe.execute("GET", key) == b"kept"
        assert await pipe.execute("CLIENT", "ID") != own_id
    finally:
        await redis.delete(key)
        await pipe.close()


async def test_a_reply_that_does_not_come_in_time_fails_its_batch_and_is_never_read_later(redis) -> None:
    pipe = AutoPipeline(redis)
    pipe.timeout = 0.2
    late, key = _key(), _key()
    try:
        await pipe.execute("SET", key, "current", "PX", 60_000)
        await redis.execute_command("CLIENT", "PAUSE", 600, "ALL")  # Redis answers nobody for 0.6 s
        with pytest.raises(RedisConnectionError, match="TimeoutError"):  # Redis's, as callers must tell
            await pipe.execute("SET", late, "late", "GET")
        await asyncio.sleep(0.6)
        # the late reply went with the old connection: this one is the GET's own
        assert await pipe.execute("GET", key) == b"current"
    finally:
        await redis.delete(key, late)
        await pipe.close()
