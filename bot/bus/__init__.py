"""The bus: the embedded one (in-process queues kept on disk, bot.bus.memory) or Redis Streams
shared by several processes (bot.bus.redis), behind one interface (bot.bus.base)."""

from __future__ import annotations

from bot.bus.base import DUPLICATE, PARTITIONS, REFUSED, TAKEN, Bus, Guard, Handler, Lease, lease_held, partition_of
from bot.bus.memory import MemoryBus
from bot.bus.redis import RedisBus

__all__ = [
    "Bus",
    "MemoryBus",
    "RedisBus",
    "Handler",
    "Guard",
    "TAKEN",
    "DUPLICATE",
    "REFUSED",
    "PARTITIONS",
    "partition_of",
    "Lease",
    "lease_held",
]
