"""Short-lived shared state (dedupe keys, access tokens, locks): in memory or in Redis."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any

__all__ = ["State", "MemoryState", "RedisState"]


class State(ABC):
    @abstractmethod
    async def get(self, key: str) -> str | None: ...

    async def get_many(self, keys: list[str]) -> list[str | None]:
        """Several keys at once (one round trip on Redis)."""
        return [await self.get(k) for k in keys]

    @abstractmethod
    async def set(self, key: str, value: str, ttl: float | None = None) -> None: ...

    @abstractmethod
    async def add(self, key: str, ttl: float, value: str = "1") -> bool:
        """Set the key only if absent; True when this call set it (dedupe, locks)."""

    @abstractmethod
    async def incr(self, key: str, ttl: float) -> int:
        """Add one to a counter that lives `ttl` seconds from its first count; the new value."""

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove the key; True for the one caller that removed it."""

    async def ping(self) -> bool:
        return True


class MemoryState(State):
    def __init__(self) -> None:
        self._data: dict[str, tuple[str, float | None]] = {}

    def _live(self, key: str) -> tuple[str, float | None] | None:
        item = self._data.get(key)
        if item and item[1] is not None and item[1] <= time.monotonic():
            del self._data[key]
            return None
        return item

    async def get(self, key: str) -> str | None:
        item = self._live(key)
        return item[0] if item else None

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        self._data[key] = (value, time.monotonic() + ttl if ttl else None)
        if len(self._data) > 100_000:  # keep dedupe keys from growing without end
            self._sweep()

    async def add(self, key: str, ttl: float, value: str = "1") -> bool:
        if self._live(key):
            return False
        await self.set(key, value, ttl)
        return True

    async def incr(self, key: str, ttl: float) -> int:
        item = self._live(key)
        value = int(item[0]) + 1 if item else 1
        self._data[key] = (str(value), item[1] if item else time.monotonic() + ttl)
        return value

    async def delete(self, key: str) -> bool:
        return self._live(key) is not None and self._data.pop(key, None) is not None

    def _sweep(self) -> None:
        now = time.monotonic()
        for k in [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]:
            del self._data[k]


_INCR = "local v = redis.call('incr', KEYS[1]) if v == 1 then redis.call('pexpire', KEYS[1], ARGV[1]) end return v"


def _text(v: Any) -> str | None:
    return v.decode() if isinstance(v, bytes) else v


class RedisState(State):
    def __init__(self, redis: Any, prefix: str = "kefu:"):
        self.redis = redis
        self.prefix = prefix
        self._incr = redis.register_script(_INCR)

    async def get(self, key: str) -> str | None:
        return _text(await self.redis.get(self.prefix + key))

    async def get_many(self, keys: list[str]) -> list[str | None]:
        if not keys:
            return []
        return [_text(v) for v in await self.redis.mget([self.prefix + k for k in keys])]

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        await self.redis.set(self.prefix + key, value, px=int(ttl * 1000) if ttl else None)

    async def add(self, key: str, ttl: float, value: str = "1") -> bool:
        return bool(await self.redis.set(self.prefix + key, value, px=int(ttl * 1000), nx=True))

    async def incr(self, key: str, ttl: float) -> int:
        return int(await self._incr([self.prefix + key], [int(ttl * 1000)]))

    async def delete(self, key: str) -> bool:
        return bool(await self.redis.delete(self.prefix + key))

    async def ping(self) -> bool:
        return bool(await self.redis.ping())
