"""The bus on Redis Streams, shared by several kefu processes.

One stream per partition and one consumer group. Each partition is consumed by one process
at a time, under a lease it renews: so one conversation's messages are handled in order,
never by two processes at once. Live processes announce themselves; each takes about its
share of the partitions and hands extras back when another process joins. When a process
dies its leases expire, and whoever takes a partition over first claims (XAUTOCLAIM) what
the dead one had taken but not finished, and handles it before anything newer.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import socket
import time
from typing import Any

from loguru import logger

from bot.bus.base import DUPLICATE, LEASE, REFUSED, TAKEN, Bus, Guard, Handler, Lease, lease_held, partition_of
from bot.errors import BusUnavailable
from bot.lanes import Lanes

__all__ = ["RedisBus", "lease_key"]

_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_ONCE = (
    "if redis.call('set', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then "
    "redis.call('xadd', KEYS[2], '*', 'd', ARGV[2], 'k', ARGV[3]) return 1 end return 0"
)
# the same, after a guard: KEYS[3] absent (then set to ARGV[4]) or holding ARGV[4], else -1
_GUARDED_ONCE = (
    "if not redis.call('set', KEYS[3], ARGV[4], 'NX', 'PX', ARGV[5]) "
    "and redis.call('get', KEYS[3]) ~= ARGV[4] then return -1 end " + _ONCE
)
_ACQUIRE = (
    "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end "
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_ACK = "redis.call('xack', KEYS[1], ARGV[1], unpack(ARGV, 2)) return redis.call('xdel', KEYS[1], unpack(ARGV, 2))"


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v or "")


def _payload(stream: str, entry_id: Any, fields: dict[Any, Any]) -> dict[str, Any] | None:
    raw = fields.get(b"d") or fields.get("d")
    try:
        payload = json.loads(raw)
    except (TypeError, ValueError):
        payload = None
    if not isinstance(payload, dict):
        logger.error("bus {}: entry {} is not a JSON object; dropped", stream, entry_id)
        return None
    return payload


def lease_key(prefix: str, topic: str, p: int) -> str:
    """The key holding which process serves partition `p` of `topic`."""
    return f"{prefix}lease:{topic}:{p}"


class RedisBus(Bus):
    GROUP = "kefu"
    lease_ms = 10_000  # a dead process's partitions wait this long before another takes them
    heartbeat = 2.0  # seconds between "still alive" marks

    def __init__(self, redis: Any, prefix: str = "kefu:", partitions: int = 8):
        super().__init__(partitions)
        self.redis = redis
        # several commands that must go together: one script each (redis-py loads it on NOSCRIPT)
        self._once, self._guarded_once = redis.register_script(_ONCE), redis.register_script(_GUARDED_ONCE)
        self._acquire_lease, self._renew_lease = redis.register_script(_ACQUIRE), redis.register_script(_RENEW)
        self._release_lease, self._ack_entries = redis.register_script(_RELEASE), redis.register_script(_ACK)
        self.prefix = prefix
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{random.randrange(16**6):06x}"
        self._owned: dict[str, set[int]] = {}
        self._alive = 1
        self._beat: asyncio.Task[None] | None = None

    def _stream(self, topic: str, p: int) -> str:
        return f"{self.prefix}bus:{topic}:{p}"

    def _lease(self, topic: str, p: int) -> str:
        return lease_key(self.prefix, topic, p)

    @property
    def _members(self) -> str:
        return f"{self.prefix}members"

    async def publish(self, topic: str, key: str, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False)
        stream = self._stream(topic, partition_of(key, self.partitions))
        try:
            await self.redis.xadd(stream, {"d": data, "k": self.lane_of(topic, key)})
        except Exception as e:  # connection refused, timeout, OOM: the caller must not ack
            raise BusUnavailable(f"redis: {e}") from e

    async def publish_once(
        self, topic: str, key: str, payload: dict[str, Any], mark: str, ttl: float, guard: Guard | None = None
    ) -> str:
        """The guard, the mark (keys under the prefix, as State writes them) and the entry in one script."""
        data = json.dumps(payload, ensure_ascii=False)
        keys = [self.prefix + mark, self._stream(topic, partition_of(key, self.partitions))]
        args: list[Any] = [int(ttl * 1000), data, self.lane_of(topic, key)]
        try:
            if guard is None:
                done = await self._once(keys, args)
            else:
                keys.append(self.prefix + guard.key)
                args += [guard.value, int(guard.ttl * 1000)]
                done = await self._guarded_once(keys, args)
        except Exception as e:
            raise BusUnavailable(f"redis: {e}") from e
        return TAKEN if done == 1 else REFUSED if done == -1 else DUPLICATE

    # -- membership and leases -----------------------------------------------------

    async def start(self) -> None:
        await self._announce()
        self._beat = asyncio.create_task(self._heartbeat(), name="bus:heartbeat")
        await super().start()

    async def _announce(self) -> None:
        now_ms = int(time.time() * 1000)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zadd(self._members, {self.consumer: now_ms})
                pipe.zremrangebyscore(self._members, "-inf", now_ms - self.lease_ms)
                pipe.zcard(self._members)
                *_, alive = await pipe.execute()
            self._alive = max(1, int(alive))
            self.outages.up("redis")
        except Exception as e:
            self.outages.down(e, "redis")

    async def _heartbeat(self) -> None:
        while not self._stopping.is_set():
            await asyncio.sleep(self.heartbeat)
            await self._announce()

    def _share(self) -> int:
        return math.ceil(self.partitions / self._alive)

    async def _acquire(self, topic: str, p: int) -> bool:
        if len(self._owned.setdefault(topic, set())) >= self._share():
            return False
        # ours already (kept while Redis was briefly away): renewing it is taking it
        taken = await self._acquire_lease([self._lease(topic, p)], [self.consumer, self.lease_ms])
        self.outages.up("redis")  # it answered
        if taken:
            self._owned[topic].add(p)
            return True
        return False

    async def _renew(self, topic: str, p: int) -> bool:
        return bool(await self._renew_lease([self._lease(topic, p)], [self.consumer, self.lease_ms]))

    async def _release(self, topic: str, p: int) -> None:
        self._owned.get(topic, set()).discard(p)
        try:
            await self._release_lease([self._lease(topic, p)], [self.consumer])
        except Exception as e:  # it expires by itself
            logger.info("bus: lease {}:{} not released ({})", topic, p, e)

    def _should_yield(self, topic: str, p: int) -> bool:
        """Another process joined: hand back the highest partitions above our share."""
        owned = sorted(self._owned.get(topic, set()))
        excess = len(owned) - self._share()
        return excess > 0 and p in owned[-excess:]

    # -- consuming -------------------------------------------------------------------

    async def _ensure_group(self, stream: str) -> None:
        try:
            await self.redis.xgroup_create(stream, self.GROUP, id="0", mkstream=True)
        except Exception as e:
            if "BUSYGROUP" not in str(e):
                raise

    async def _consume(self, topic: str, partition: int, handler: Handler) -> None:
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                if not await self._acquire(topic, partition):
                    await asyncio.sleep(0.3 + random.random() * 0.4)  # standby
                    continue
                try:
                    await self._serve(topic, partition, handler)
                finally:
                    await self._release(topic, partition)
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.outages.down(e, "redis")  # logged once for the process, not per partition
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _keep(self, lease: Lease, topic: str, partition: int) -> None:
        """Renew the lease a few times per its life, whatever the work is doing; a renewal Redis
        refuses (another process holds it) ends it at once, one that fails leaves it to expire."""
        while not lease.lost and not lease.ended:
            await asyncio.sleep(lease.ttl / 4)
            if lease.ended:
                return
            asked = time.monotonic()
            try:
                ours = await self._renew(topic, partition)
            except Exception as e:
                self.outages.down(e, "redis")
                continue
            if ours:
                lease.renewed(asked)
            else:
                lease.lost = True
                logger.warning("bus {}:{}: lease lost; another process takes over", topic, partition)

    async def _serve(self, topic: str, partition: int, handler: Handler) -> None:
        """Consume the partition while this process holds its lease: entries go to lanes (one
        recipient's deliveries in order, different recipients' side by side) and are acknowledged
        one by one as they finish, only while the lease is still held."""
        stream = self._stream(topic, partition)
        await self._ensure_group(stream)
        await self._claim_all(stream)
        lease = Lease(self.lease_ms / 1000)
        keeper = asyncio.create_task(self._keep(lease, topic, partition), name=f"bus:lease:{topic}:{partition}")
        token = LEASE.set(lease)  # the lanes' tasks, created below, see it (bot.bus.base.lease_held)

        async def run(entry: tuple[Any, dict[str, Any] | None]) -> bool:
            entry_id, payload = entry
            if payload is not None and not await self._handle(topic, handler, payload):
                return False  # left pending: whoever serves the partition next takes it first
            if not lease.held():
                return False  # not ours to acknowledge: the new owner finds it already done
            await self._ack(stream, [entry_id])
            return True

        lanes: Lanes[tuple[Any, dict[str, Any] | None]] = Lanes(run)
        task = asyncio.current_task()
        assert task is not None
        try:
            last = "0"  # first what this consumer holds pending (claimed or its own), in order
            while not self._stopping.is_set() and lease.held() and not lanes.stopped:
                if self._should_yield(topic, partition):
                    break
                if task.cancelling():  # redis-py 8.1 can swallow a cancel that lands in a blocking read
                    raise asyncio.CancelledError
                # a short block: stopping waits for the read to end rather than cancel it mid-reply
                resp = await self.redis.xreadgroup(
                    self.GROUP, self.consumer, {stream: last}, count=32, block=None if last != ">" else 500
                )
                entries = resp[0][1] if resp else []
                if last != ">" and not entries:
                    last = ">"
                    continue
                for entry_id, fields in entries:
                    if last != ">":
                        last = entry_id  # the pending ones after it, next time
                    lane = _text(fields.get(b"k") or fields.get("k"))
                    await lanes.put(lane, (entry_id, _payload(stream, entry_id, fields)))
        except asyncio.CancelledError:
            await lanes.cancel()  # shutting down past its grace: what is in hand stays pending
            raise
        finally:
            lanes.stop()
            try:
                await lanes.join()  # what a lane has in hand finishes; the rest stays pending
            finally:
                # the flag ends it even if the cancellation is lost: seen under load after a Redis
                # restart, a keeper in a renewal kept running, and awaiting it held the partition for good
                lease.ended = True
                keeper.cancel()
                await asyncio.wait({keeper}, timeout=lease.ttl / 2)
                LEASE.reset(token)

    async def _claim_all(self, stream: str) -> None:
        """Take over every entry the group holds pending on this stream (a dead owner's)."""
        start = "0-0"
        for _ in range(10_000):
            # (not justid: redis-py parses an empty justid answer as [])
            res = await self.redis.xautoclaim(stream, self.GROUP, self.consumer, 0, start_id=start, count=100)
            start = res[0].decode() if isinstance(res[0], bytes) else str(res[0])
            if res[1]:
                logger.info("bus {}: took over {} unfinished entries", stream, len(res[1]))
            if start == "0-0":
                return

    async def _ack(self, stream: str, entry_ids: list[Any]) -> None:
        while True:
            try:
                await self._ack_entries([stream], [self.GROUP, *entry_ids])
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.outages.down(e, "redis")
                if not lease_held():
                    return  # the new owner has it; handled already, so a replay is dropped
                await asyncio.sleep(0.5)

    async def pending(self, topic: str) -> int:
        total = 0
        for p in range(self.partitions):
            total += await self.redis.xlen(self._stream(topic, p))
        return total

    async def close(self, grace: float = 2.0) -> None:
        await super().close(grace)
        if self._beat:
            self._beat.cancel()
            await asyncio.gather(self._beat, return_exceptions=True)
        try:
            await self.redis.zrem(self._members, self.consumer)
        except Exception:
            pass  # it ages out
