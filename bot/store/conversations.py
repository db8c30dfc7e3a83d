"""Conversations: who is served, by whom, in what state; each agent's load kept with it."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from bot.model import TICKET_BASE, Conversation
from bot.store.base import StoreBase
from bot.store.schema import conversations

__all__ = ["Conversations", "conversation_of"]

_CONV_FIELDS = tuple(f.name for f in fields(Conversation))  # the columns a Conversation is read from
_CONV_COLUMNS = ", ".join(_CONV_FIELDS)
_SETTABLE = frozenset(c.name for c in conversations.columns) - {"id"}

_OPEN = f"SELECT {_CONV_COLUMNS} FROM conversations WHERE account = $1 AND customer = $2 AND status = 'open'"
_CONV = f"SELECT {_CONV_COLUMNS} FROM conversations WHERE id = $1"
_SURVEY_PENDING = (
    f"SELECT {_CONV_COLUMNS} FROM conversations WHERE account = $1 AND customer = $2 AND status = 'closed' "
    "AND survey_sent_at >= $3 AND rating_text IS NULL ORDER BY id DESC LIMIT 1"
)
# both in one statement (a round trip less for every text a customer writes on PostgreSQL)
_OPEN_AND_SURVEY_PENDING = (
    f"SELECT 'open' AS found, o.* FROM ({_OPEN}) o UNION ALL SELECT 'survey' AS found, s.* FROM ({_SURVEY_PENDING}) s"
)
_INSERT_CONVERSATION = (
    "INSERT INTO conversations (account, customer, customer_name, status, agent, created_at, last_message_at, "
    "category, unreachable, opened_by) VALUES ($1, $2, $3, 'open', '', $4, $4, '', '', $5) "
    "ON CONFLICT DO NOTHING RETURNING id"
)


def conversation_of(row: dict[str, Any]) -> Conversation:
    return Conversation(**{f: row[f] for f in _CONV_FIELDS})


class Conversations(StoreBase):
    async def open_conversation(self, account: str, customer: str) -> Conversation | None:
        row = await self._row(_OPEN, account, customer)
        return conversation_of(row) if row else None

    async def start_conversation(
        self, account: str, customer: str, name: str, now: float, opened_by: str = ""
    ) -> Conversation:
        """Open a conversation, or return the one already open (another worker may have won).

        `opened_by` is the id of the message that opens it: handled again after a crash, that
        message still counts as the conversation's first (it is greeted, routed afresh).
        """
        async with self._write() as conn:
            cid = await conn.fetchval(_INSERT_CONVERSATION, account, customer, name, now, opened_by)
        if cid is not None:
            return Conversation(cid, account, customer, name, "open", now, now, opened_by=opened_by)
        conv = await self.open_conversation(account, customer)
        assert conv is not None
        return conv

    async def conversation(self, conversation_id: int) -> Conversation | None:
        row = await self._row(_CONV, conversation_id)
        return conversation_of(row) if row else None

    async def by_ticket(self, ticket: int) -> Conversation | None:
        return await self.conversation(ticket - TICKET_BASE)

    async def touch(self, conversation_id: int, now: float) -> None:
        await self._exec("UPDATE conversations SET last_message_at = $2 WHERE id = $1", conversation_id, now)

    async def close_conversation(self, conversation_id: int, now: float) -> None:
        await self.update_conversation(
            conversation_id, status="closed", closed_at=now, queued_at=None, waiting_since=None
        )
        await self.cancel_timers(conversation_id)

    async def update_conversation(self, conversation_id: int, **values: Any) -> None:
        unknown = set(values) - _SETTABLE
        if unknown:
            raise ValueError(f"conversations: no such columns {sorted(unknown)}")
        sets = ", ".join(f"{n} = ${k + 2}" for k, n in enumerate(values))
        sql = f"UPDATE conversations SET {sets} WHERE id = $1"
        if "agent" not in values and "status" not in values:
            await self._exec(sql, conversation_id, *values.values())
            return
        async with self._changing() as conn:  # who holds it changes: the agents' counts with it
            lock = " FOR UPDATE" if self.dialect == "postgresql" else ""
            old = await conn.fetchrow(f"SELECT agent, status FROM conversations WHERE id = $1{lock}", conversation_id)
            await conn.execute(sql, conversation_id, *values.values())
            if old is None:
                return
            before = old["agent"] if old["status"] == "open" else ""
            after = values.get("agent", old["agent"]) if values.get("status", old["status"]) == "open" else ""
            if before == after:
                return
            # in a fixed order, so two transactions moving conversations between the same agents cannot deadlock
            for agent, step in sorted(((before, -1), (after, 1))):
                if agent:
                    await conn.execute(
                        "INSERT INTO agent_load (agent, open_count) VALUES ($1, $2) ON CONFLICT (agent) "
                        "DO UPDATE SET open_count = agent_load.open_count + excluded.open_count",
                        agent,
                        step,
                    )

    async def open_conversations(self) -> list[Conversation]:
        rows = await self._rows(f"SELECT {_CONV_COLUMNS} FROM conversations WHERE status = 'open' ORDER BY id")
        return [conversation_of(r) for r in rows]

    async def waiting(self) -> list[Conversation]:
        """Open conversations no agent has taken, oldest first: the queue and the 留言."""
        rows = await self._rows(
            f"SELECT {_CONV_COLUMNS} FROM conversations WHERE status = 'open' AND agent = '' "
            "AND queued_at IS NOT NULL ORDER BY queued_at, id"
        )
        return [conversation_of(r) for r in rows]

    async def load(self) -> dict[str, int]:
        """Open conversations per agent."""
        rows = await self._rows("SELECT agent, open_count FROM agent_load WHERE open_count > 0")
        return {r["agent"]: r["open_count"] for r in rows}

    async def of_agent(self, agent: str) -> list[Conversation]:
        rows = await self._rows(
            f"SELECT {_CONV_COLUMNS} FROM conversations WHERE status = 'open' AND agent = $1 ORDER BY id", agent
        )
        return [conversation_of(r) for r in rows]

    async def last_agent_of(self, account: str, customer: str) -> str:
        """The agent who served this customer most recently, '' if none."""
        agent = await self._value(
            "SELECT agent FROM conversations WHERE account = $1 AND customer = $2 AND agent != '' "
            "ORDER BY id DESC LIMIT 1",
            account,
            customer,
        )
        return agent or ""

    async def survey_pending(self, account: str, customer: str, since: float) -> Conversation | None:
        """The customer's latest closed conversation still waiting for their rating."""
        row = await self._row(_SURVEY_PENDING, account, customer, since)
        return conversation_of(row) if row else None

    async def open_and_survey_pending(
        self, account: str, customer: str, since: float
    ) -> tuple[Conversation | None, Conversation | None]:
        """open_conversation and survey_pending in one read."""
        found = {
            r["found"]: conversation_of(r) for r in await self._rows(_OPEN_AND_SURVEY_PENDING, account, customer, since)
        }
        return found.get("open"), found.get("survey")

    async def conversations_between(self, start: float, end: float) -> list[Conversation]:
        rows = await self._rows(
            f"SELECT {_CONV_COLUMNS} FROM conversations WHERE created_at >= $1 AND created_at < $2 ORDER BY id",
            start,
            end,
        )
        return [conversation_of(r) for r in rows]

    async def first_questions(self, ids: list[int]) -> dict[int, tuple[float, str]]:
        """Per conversation: (time, text) of the customer's first message (not an event)."""
        if not ids:
            return {}
        out: dict[int, tuple[float, str]] = {}
        for start in range(0, len(ids), 500):  # a bounded number of parameters per statement
            chunk = ids[start : start + 500]
            marks = ", ".join(f"${k + 1}" for k in range(len(chunk)))
            rows = await self._rows(
                "SELECT m.conversation_id, m.created_at, m.text FROM messages m JOIN ("
                "SELECT messages.conversation_id, min(messages.id) AS mid FROM messages "
                "JOIN conversations ON conversations.id = messages.conversation_id "
                f"WHERE messages.conversation_id IN ({marks}) AND messages.direction = 'in' "
                "AND messages.kind != 'event' AND messages.account = conversations.account "
                "GROUP BY messages.conversation_id) f ON m.id = f.mid",
                *chunk,
            )
            out.update({r["conversation_id"]: (r["created_at"], r["text"]) for r in rows})
        return out

    async def customer_texts(self, conv: Conversation, limit: int = 5, *, last: bool = False) -> list[str]:
        """What the customer wrote in this conversation: the first `limit` messages (or the last ones)."""
        order = "DESC" if last else "ASC"
        rows = await self._rows(
            "SELECT text FROM messages WHERE conversation_id = $1 AND direction = 'in' AND account = $2 "
            f"AND kind != 'event' AND purpose = '' ORDER BY id {order} LIMIT $3",
            conv.id,
            conv.account,
            limit,
        )
        texts = [r["text"] for r in rows]
        return texts[::-1] if last else texts
