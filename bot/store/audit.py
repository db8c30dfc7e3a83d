"""The audit log: who logged in to the console, who was refused, and what each supervisor did."""

from __future__ import annotations

from typing import Any

from bot.store.base import StoreBase

__all__ = ["Audit"]


class Audit(StoreBase):
    async def audit(
        self, now: float, username: str, address: str, action: str, detail: str = "", outcome: str = "ok"
    ) -> None:
        await self._exec(
            "INSERT INTO audit (at, username, address, action, detail, outcome) VALUES ($1, $2, $3, $4, $5, $6)",
            now,
            username[:64],
            address[:64],
            action,
            detail,
            outcome,
        )

    async def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest entries, newest first."""
        return await self._rows("SELECT * FROM audit ORDER BY id DESC LIMIT $1", limit)
