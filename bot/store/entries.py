"""The embedded bus's entries on disk (bot.bus.memory): taken before the webhook is answered,
dropped once handled, and handled again in order after a restart."""

from __future__ import annotations

from typing import Any

from bot.store.base import StoreBase

__all__ = ["Entries"]


class Entries(StoreBase):
    async def put_entry(self, topic: str, partition: int, lane: str, payload: str) -> int:
        async with self._write() as conn:
            entry_id = await conn.fetchval(
                "INSERT INTO bus (topic, partition, lane, payload) VALUES ($1, $2, $3, $4) RETURNING id",
                topic,
                partition,
                lane,
                payload,
            )
        return int(entry_id)

    async def drop_entry(self, entry_id: int) -> None:
        await self._exec("DELETE FROM bus WHERE id = $1", entry_id)

    async def entries(self) -> list[dict[str, Any]]:
        """Every entry not yet handled, oldest first."""
        return await self._rows("SELECT id, topic, partition, lane, payload FROM bus ORDER BY id")
