"""Agents: who is online (shared by every process, kept across a restart), whom each serves
now, the findings on their replies, and small durable values by key."""

from __future__ import annotations

from typing import Any

from bot.store.base import StoreBase

__all__ = ["Agents"]


class Agents(StoreBase):
    async def add_finding(
        self, conversation_id: int | None, agent: str, rule: str, detail: str, action: str, text_: str, now: float
    ) -> None:
        await self._exec(
            "INSERT INTO findings (conversation_id, agent, rule, detail, action, text, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            conversation_id,
            agent,
            rule,
            detail,
            action,
            text_,
            now,
        )

    async def findings_between(self, start: float, end: float) -> list[dict[str, Any]]:
        return await self._rows("SELECT * FROM findings WHERE created_at >= $1 AND created_at < $2", start, end)

    # -- durable values ------------------------------------------------------------

    async def get_value(self, key: str) -> str | None:
        return await self._value("SELECT value FROM kv WHERE key = $1", key)

    async def set_value(self, key: str, value: str, now: float) -> None:
        # one statement: two writers at once never fail
        await self._exec(
            "INSERT INTO kv (key, value, updated_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            key,
            value,
            now,
        )

    # -- agents --------------------------------------------------------------------

    # Each change of presence is one statement, so processes agree on who changed it.

    async def online(self) -> dict[str, float]:
        """Agents online, with the time of their last activity."""
        return {r["agent"]: r["last_at"] for r in await self._rows("SELECT agent, last_at FROM presence")}

    async def is_online(self, agent: str) -> bool:
        return await self._value("SELECT 1 FROM presence WHERE agent = $1", agent) is not None

    async def go_online(self, agent: str, now: float) -> bool:
        """True for the one caller that brought them online (False if they already were)."""
        return (
            await self._exec(
                "INSERT INTO presence (agent, since, last_at) VALUES ($1, $2, $2) ON CONFLICT DO NOTHING", agent, now
            )
            == 1
        )

    async def go_offline(self, agent: str, idle_since: float | None = None) -> bool:
        """True for the one caller that took them offline (only if idle since then, when given)."""
        if idle_since is None:
            return await self._exec("DELETE FROM presence WHERE agent = $1", agent) == 1
        return await self._exec("DELETE FROM presence WHERE agent = $1 AND last_at <= $2", agent, idle_since) == 1

    async def agent_active(self, agent: str, now: float) -> None:
        """An online agent did something: they are not idle."""
        await self._exec("UPDATE presence SET last_at = $2 WHERE agent = $1", agent, now)

    async def current_of(self, agent: str) -> int | None:
        return await self._value("SELECT conversation_id FROM agent_state WHERE agent = $1", agent)

    async def set_current(self, agent: str, conversation_id: int, now: float) -> None:
        await self._exec(
            "INSERT INTO agent_state (agent, conversation_id, updated_at) VALUES ($1, $2, $3) ON CONFLICT (agent) "
            "DO UPDATE SET conversation_id = excluded.conversation_id, updated_at = excluded.updated_at",
            agent,
            conversation_id,
            now,
        )
