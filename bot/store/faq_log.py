"""What the knowledge base did with each customer question: answered, suggested, missed, or the
customer asked for a person (handlers/faq), for the report and the rule's own memory."""

from __future__ import annotations

from typing import Any

from bot.store.base import StoreBase

__all__ = ["FaqLog"]


class FaqLog(StoreBase):
    async def add_faq(
        self,
        conversation_id: int,
        text: str,
        outcome: str,
        now: float,
        *,
        entry: int | None = None,
        score: float | None = None,
        reason: str = "",
    ) -> None:
        await self._exec(
            "INSERT INTO faq_log (conversation_id, text, outcome, entry, score, reason, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            conversation_id,
            text,
            outcome,
            entry,
            score,
            reason,
            now,
        )

    async def faq_outcomes(self, conversation_id: int, limit: int = 10) -> list[str]:
        """The conversation's latest outcomes, newest first."""
        rows = await self._rows(
            "SELECT outcome FROM faq_log WHERE conversation_id = $1 ORDER BY id DESC LIMIT $2", conversation_id, limit
        )
        return [r["outcome"] for r in rows]

    async def faq_between(self, start: float, end: float) -> list[dict[str, Any]]:
        """Every row in [start, end), oldest first."""
        return await self._rows(
            "SELECT * FROM faq_log WHERE created_at >= $1 AND created_at < $2 ORDER BY id", start, end
        )
