"""The transcript: every inbound message and every outbound delivery, with its result. A
delivery's row is the outbox: recorded pending in the handling's transaction, then sent."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from bot.model import Conversation, Delivery, Message
from bot.store.base import StoreBase

__all__ = ["Transcript", "delivery_of"]

_MESSAGE_COLUMNS = (
    "uid, conversation_id, direction, account, party, party_name, kind, text, data, external_id, purpose, "
    "status, error, created_at, updated_at"
)
_INSERT_MESSAGE = (
    f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
    "$14, $15) ON CONFLICT DO NOTHING"
)
_HANDLED = "UPDATE messages SET status = 'handled', updated_at = $2 WHERE uid = $1"
_STATUS = "SELECT status FROM messages WHERE uid = $1"
_FINISH = "UPDATE messages SET status = $2, error = $3, updated_at = $4 WHERE uid = $1"
# A platform may give one id to two deliveries (WeCom's duplicate check answers a dropped resend with
# the first message's id): the first keeps it, for quotes of it, and the second is recorded without.
_FINISH_WITH_ID = (
    "UPDATE messages SET status = $2, error = $3, updated_at = $4, external_id = CASE WHEN EXISTS ("
    "SELECT 1 FROM messages m WHERE m.account = messages.account AND m.direction = 'out' "
    "AND m.external_id = $5 AND m.uid != $1) THEN external_id ELSE $5 END WHERE uid = $1"
)


def delivery_of(row: dict[str, Any]) -> Delivery:
    """A delivery rebuilt from its transcript row."""
    extra = json.loads(row["data"] or "{}")
    return Delivery(
        id=row["uid"],
        account=row["account"],
        to=row["party"],
        text=row["text"],
        kind=row["kind"],
        media=extra.get("media", ""),
        media_from=extra.get("media_from", ""),
        chat=bool(extra.get("chat")),
        group=extra.get("group", ""),
        agent=extra.get("agent", ""),
        conversation_id=row["conversation_id"],
        purpose=row["purpose"],
    )


def _marks(n: int, first: int) -> str:
    """$first, $first+1, ... for n parameters."""
    return ", ".join(f"${k + first}" for k in range(n))


def _unique_violation(e: BaseException) -> bool:
    return isinstance(e, sqlite3.IntegrityError) or str(getattr(e, "sqlstate", "")) == "23505"


class Transcript(StoreBase):
    async def record_inbound(self, msg: Message, conversation_id: int | None, now: float, purpose: str = "") -> str:
        """Log an inbound message: "new"; "done" if it was handled before (a platform retry, or
        the bus replaying it); "resume" if a crash interrupted its handling (this same message)."""
        data = json.dumps({"event": msg.event, "sent_at": msg.sent_at, **msg.data}, ensure_ascii=False)
        async with self._write() as conn:
            inserted = await conn.execute(
                _INSERT_MESSAGE,
                msg.id,
                conversation_id,
                "in",
                msg.account,
                msg.sender,
                msg.sender_name,
                msg.kind,
                msg.summary() if msg.kind != "text" else msg.text,
                data,
                msg.external_id,
                purpose,  # "" for what people write; "rating" for a survey answer
                "received",
                "",
                msg.received_at or now,  # kefu's clock, like every other time it keeps
                now,
            )
            if inserted:
                return "new"
            row = await conn.fetchrow(
                "SELECT uid, status FROM messages WHERE account = $1 AND direction = 'in' AND external_id = $2",
                msg.account,
                msg.external_id,
            )
        if row is not None and row["uid"] == msg.id and row["status"] != "handled":
            return "resume"
        return "done"

    async def mark_handled(self, message_id: str, now: float) -> None:
        """Every delivery the message led to is queued: a replay of it is a plain duplicate."""
        await self._exec(_HANDLED, message_id, now)

    async def set_conversation(self, message_id: str, conversation_id: int) -> None:
        await self._exec("UPDATE messages SET conversation_id = $2 WHERE uid = $1", message_id, conversation_id)

    async def record_delivery(self, d: Delivery, party_name: str, now: float) -> str:
        """Log a delivery as pending: "new", or the status it already had (a resumed handling)."""
        # what it takes to send it again from the dead-letter list
        extra = {"media": d.media, "media_from": d.media_from, "chat": d.chat, "group": d.group, "agent": d.agent}
        data = json.dumps({k: v for k, v in extra.items() if v}, ensure_ascii=False)
        async with self._write() as conn:
            inserted = await conn.execute(
                _INSERT_MESSAGE,
                d.id,
                d.conversation_id,
                "out",
                d.account,
                d.to,
                party_name,
                d.kind,
                d.text,
                data,
                None,
                d.purpose,
                "pending",
                "",
                now,
                now,
            )
            if inserted:
                return "new"
            return await conn.fetchval(_STATUS, d.id) or "pending"

    async def claim_delivery(self, delivery_id: str, now: float) -> str | None:
        """Mark a pending delivery as being sent; the status it had ("pending" when claimed).

        "sending" found here means an earlier attempt was cut off mid-send (a crash, a kill):
        the platform may or may not have accepted it.
        """
        async with self._write() as conn:
            claimed = await conn.execute(
                "UPDATE messages SET status = 'sending', updated_at = $2 WHERE uid = $1 AND status = 'pending'",
                delivery_id,
                now,
            )
            if claimed:
                return "pending"
            return await conn.fetchval(_STATUS, delivery_id)

    async def delivery_status(self, delivery_id: str) -> str | None:
        return await self._value(_STATUS, delivery_id)

    async def finish_delivery(
        self, delivery_id: str, status: str, now: float, *, error: str = "", external_id: str | None = None
    ) -> None:
        if external_id:
            try:
                await self._exec(_FINISH_WITH_ID, delivery_id, status, error, now, external_id)
                return
            except Exception as e:  # two recorded with the same id at the same moment: the first keeps it
                if not _unique_violation(e):
                    raise
            await self._exec(_FINISH, delivery_id, status, error, now)
        else:
            await self._exec(_FINISH, delivery_id, status, error, now)

    async def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """Deliveries that failed for good, newest first."""
        return await self._rows(
            "SELECT * FROM messages WHERE direction = 'out' AND status = 'failed' ORDER BY id DESC LIMIT $1", limit
        )

    async def mark_for_retry(self, ids: list[int] | None, now: float) -> int:
        """Failed deliveries (these ids, or all) to be sent again by the running kefu."""
        sql = "UPDATE messages SET status = 'retry', updated_at = $1 WHERE direction = 'out' AND status = 'failed'"
        if ids is None:
            return await self._exec(sql, now)
        marks = ", ".join(f"${k + 2}" for k in range(len(ids)))
        return await self._exec(f"{sql} AND id IN ({marks})", now, *ids) if ids else 0

    async def unfinished_deliveries(self) -> list[dict[str, Any]]:
        """Deliveries queued or being sent when the process stopped, oldest first."""
        return await self._rows(
            "SELECT * FROM messages WHERE direction = 'out' AND status IN ('pending', 'sending') ORDER BY id"
        )

    async def take_retries(self) -> list[dict[str, Any]]:
        """The deliveries marked for retry, each taken by one process only (back to pending)."""
        rows = await self._rows("SELECT * FROM messages WHERE status = 'retry'")
        taken = []
        for row in rows:
            if await self._exec(
                "UPDATE messages SET status = 'pending', error = '' WHERE id = $1 AND status = 'retry'", row["id"]
            ):
                taken.append(row)
        return taken

    async def held_count(self, conversation_id: int) -> int:
        """How many of the conversation's replies wait for the customer to write again."""
        n = await self._value(
            "SELECT COUNT(*) FROM messages WHERE conversation_id = $1 AND direction = 'out' AND status = 'held'",
            conversation_id,
        )
        return int(n or 0)

    async def release_held(self, conv: Conversation, message_id: str, now: float) -> list[Delivery]:
        """The customer's held replies, oldest first, back to pending: those of `conv` and of their
        earlier conversations still marked unreachable (closed while replies were held), whose mark
        is cleared. Released once, by the customer's message `message_id`, which finds the current
        conversation's again if its handling is replayed."""
        mark = f"released by {message_id}"
        async with self._changing() as conn:
            earlier = [
                r["id"]
                for r in await conn.fetch(
                    "SELECT id FROM conversations WHERE account = $1 AND customer = $2 AND unreachable != '' "
                    "AND id != $3",
                    conv.account,
                    conv.customer,
                    conv.id,
                )
            ]
            ids = [conv.id, *earlier]
            rows = await conn.fetch(
                f"SELECT * FROM messages WHERE conversation_id IN ({_marks(len(ids), 2)}) AND direction = 'out' "
                "AND (status = 'held' OR (status = 'pending' AND error = $1)) ORDER BY id",
                mark,
                *ids,
            )
            if earlier:  # their window is this one: the sender must not refuse their replies again
                await conn.execute(
                    f"UPDATE conversations SET unreachable = '' WHERE id IN ({_marks(len(earlier), 1)})", *earlier
                )
            taken = []
            for row in rows:
                if row["status"] == "pending" or await conn.execute(
                    "UPDATE messages SET status = 'pending', error = $2, updated_at = $3 WHERE id = $1 "
                    "AND status = 'held'",
                    row["id"],
                    mark,
                    now,
                ):
                    taken.append(delivery_of(dict(row)))
        return taken

    async def transcript(self, conversation_id: int | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        if conversation_id is None:
            return await self._rows("SELECT * FROM messages ORDER BY id LIMIT $1", limit)
        return await self._rows(
            "SELECT * FROM messages WHERE conversation_id = $1 ORDER BY id LIMIT $2", conversation_id, limit
        )

    async def exchange(self, conv: Conversation, limit: int = 10) -> list[dict[str, Any]]:
        """The last messages between the customer and kefu (no relays, notes or events), oldest first."""
        rows = await self._rows(
            "SELECT * FROM messages WHERE conversation_id = $1 AND account = $2 AND kind != 'event' "
            "AND purpose != 'greeting' ORDER BY id DESC LIMIT $3",
            conv.id,
            conv.account,
            limit,
        )
        return rows[::-1]

    async def conversation_of_forward(self, account: str, external_id: str) -> int | None:
        """The conversation a message kefu forwarded (by the platform's id for it) belongs to."""
        return await self._value(
            "SELECT conversation_id FROM messages WHERE account = $1 AND direction = 'out' AND external_id = $2",
            account,
            external_id,
        )
