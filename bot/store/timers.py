"""Stored timers (first-response limit, escalation): a restart neither loses nor doubles them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.store.base import StoreBase

__all__ = ["Timers"]


class Timers(StoreBase):
    timer_added: Callable[[float], None] | None = None  # told each timer's due time (the ticker)

    async def add_timer(self, kind: str, conversation_id: int, due_at: float, marker: float | None) -> None:
        await self._exec(
            "INSERT INTO timers (kind, conversation_id, due_at, marker) VALUES ($1, $2, $3, $4)",
            kind,
            conversation_id,
            due_at,
            marker,
        )
        if self.timer_added is not None:
            self.timer_added(due_at)

    async def next_timer_due(self) -> float | None:
        """When the earliest timer not yet fired falls due (None: none is stored)."""
        rows = await self._rows("SELECT MIN(due_at) AS due FROM timers WHERE fired_at IS NULL")
        return None if not rows or rows[0]["due"] is None else float(rows[0]["due"])

    async def due_timers(self, now: float) -> list[dict[str, Any]]:
        return await self._rows("SELECT * FROM timers WHERE fired_at IS NULL AND due_at <= $1 ORDER BY due_at", now)

    async def claim_timer(self, timer_id: int, now: float) -> bool:
        """Mark a due timer fired; True for the one caller that did (several processes may try)."""
        return (
            await self._exec("UPDATE timers SET fired_at = $2 WHERE id = $1 AND fired_at IS NULL", timer_id, now) == 1
        )

    async def cancel_timers(self, conversation_id: int) -> None:
        await self._exec("DELETE FROM timers WHERE conversation_id = $1 AND fired_at IS NULL", conversation_id)
