"""Conversations and the transcript, on SQLite (default) or PostgreSQL: the same SQL, a URL switch."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.model import TICKET_BASE, Conversation, Delivery, Message

__all__ = ["Store", "async_url", "metadata"]

_UNIT: ContextVar[AsyncConnection | None] = ContextVar("kefu_store_unit", default=None)

metadata = MetaData()

conversations = Table(
    "conversations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    Column("customer", String(128), nullable=False),
    Column("customer_name", String(128), nullable=False, default=""),
    Column("status", String(16), nullable=False, default="open"),
    Column("agent", String(64), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("last_message_at", Float, nullable=False),
    Column("closed_at", Float),
    Column("queued_at", Float),
    Column("waiting_since", Float),
    Column("first_reply_at", Float),
    Column("last_agent_at", Float),
    Column("told_position", Integer),
    Column("auto_replied_at", Float),
    Column("category", String(128), nullable=False, default=""),  # comma-separated routing categories
    Column("survey_sent_at", Float),
    Column("rating", Integer),  # 1-5 (a 3-level answer is mapped: 5, 3, 1)
    Column("rating_text", String(32)),
    Column("unreachable", String(255), nullable=False, default=""),  # why the platform refuses messages now
    Column("opened_by", String(64), nullable=False, default=""),  # the id of the message that opened it
    # at most one open conversation per customer per inbox
    Index(
        "uq_open_conversation",
        "account",
        "customer",
        unique=True,
        sqlite_where=text("status = 'open'"),
        postgresql_where=text("status = 'open'"),
    ),
    # a customer's earlier conversations (last agent, pending survey) and each agent's load,
    # without scanning the table as it grows
    Index("ix_conversation_customer", "account", "customer", "id"),
    Index("ix_conversation_status_agent", "status", "agent"),
)

# The transcript: every inbound message and every outbound delivery, with its result.
messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uid", String(32), nullable=False, unique=True),  # Message.id / Delivery.id
    Column("conversation_id", Integer, index=True),
    Column("direction", String(3), nullable=False),  # in | out
    Column("account", String(64), nullable=False),
    Column("party", String(128), nullable=False),  # sender of inbound, recipient of outbound
    Column("party_name", String(128), nullable=False, default=""),
    Column("kind", String(16), nullable=False),
    Column("text", Text, nullable=False, default=""),
    Column("data", Text, nullable=False, default="{}"),
    Column("external_id", String(128)),  # platform id: of the inbound message, or given to our send
    Column("purpose", String(16), nullable=False, default=""),
    Column(
        "status", String(16), nullable=False
    ),  # received | handled | pending | sending | sent | failed | refused | retry
    Column("error", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("uq_platform_message", "account", "direction", "external_id", unique=True),
)

# Stored timers (first-response limit, escalation): a restart neither loses nor doubles them.
timers = Table(
    "timers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("conversation_id", Integer, nullable=False, index=True),
    Column("due_at", Float, nullable=False, index=True),
    Column("marker", Float),  # what it was set for (the waiting_since it guards)
    Column("fired_at", Float),
)

# Reply-quality findings, for the daily report.
findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", Integer, index=True),
    Column("agent", String(64), nullable=False),
    Column("rule", String(32), nullable=False),  # min_chars, ending, vague, banned_word
    Column("detail", String(128), nullable=False, default=""),
    Column("action", String(16), nullable=False),  # warned, blocked, overridden
    Column("text", Text, nullable=False),
    Column("created_at", Float, nullable=False, index=True),
)

# Small durable values adapters keep across restarts (a sync cursor, say), by key.
kv = Table(
    "kv",
    metadata,
    Column("key", String(191), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)

agent_state = Table(
    "agent_state",
    metadata,
    Column("agent", String(64), primary_key=True),
    Column("conversation_id", Integer),
    Column("updated_at", Float, nullable=False),
)


def async_url(url: str) -> str:
    """The admin writes sqlite:/// or postgresql://; SQLAlchemy wants the async driver named."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+asyncpg://" + url.removeprefix(scheme)
    return url


# The hottest statements, built once: SQLAlchemy then reuses their cache keys and compiled SQL
# instead of constructing and coercing a new statement on every call.
_OPEN = select(conversations).where(
    conversations.c.account == bindparam("account"),
    conversations.c.customer == bindparam("customer"),
    conversations.c.status == "open",
)
_CONV = select(conversations).where(conversations.c.id == bindparam("cid"))
_TOUCH = update(conversations).where(conversations.c.id == bindparam("cid")).values(last_message_at=bindparam("now"))
_SURVEY_PENDING = (
    select(conversations)
    .where(
        conversations.c.account == bindparam("account"),
        conversations.c.customer == bindparam("customer"),
        conversations.c.status == "closed",
        conversations.c.survey_sent_at >= bindparam("since"),
        conversations.c.rating_text.is_(None),
    )
    .order_by(conversations.c.id.desc())
    .limit(1)
)
_INBOUND_OF = select(messages.c.uid, messages.c.status).where(
    messages.c.account == bindparam("account"),
    messages.c.direction == "in",
    messages.c.external_id == bindparam("external_id"),
)
_HANDLED = (
    update(messages).where(messages.c.uid == bindparam("mid")).values(status="handled", updated_at=bindparam("now"))
)
_CLAIM = (
    update(messages)
    .where(messages.c.uid == bindparam("mid"), messages.c.status == "pending")
    .values(status="sending", updated_at=bindparam("now"))
)
_STATUS = select(messages.c.status).where(messages.c.uid == bindparam("mid"))
_FINISH = (
    update(messages)
    .where(messages.c.uid == bindparam("mid"))
    .values(status=bindparam("status"), error=bindparam("error"), updated_at=bindparam("now"))
)
_FINISH_WITH_ID = _FINISH.values(external_id=bindparam("external_id"))


def _conversation(row: Any) -> Conversation:
    m = row._mapping
    return Conversation(**{f: m[f] for f in _CONV_FIELDS})


_CONV_FIELDS = (
    "id account customer customer_name status created_at last_message_at agent queued_at waiting_since "
    "first_reply_at last_agent_at told_position auto_replied_at category survey_sent_at rating rating_text "
    "unreachable opened_by"
).split()


class Store:
    def __init__(self, url: str):
        self.url = async_url(url)
        # a pool as large as the bus's consumers plus the webhooks, so no message waits for a
        # connection or opens a new one; connections are recycled rather than pinged on every use
        if ":memory:" in self.url:
            pool: dict[str, Any] = {}  # one shared connection (SQLAlchemy's default for an in-memory database)
        elif self.url.startswith("sqlite"):
            pool = {"pool_size": 24, "max_overflow": 16}
        else:
            pool = {"pool_size": 24, "max_overflow": 16, "pool_recycle": 1800}
        self.engine: AsyncEngine = create_async_engine(self.url, **pool)
        if self.url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        # inserts that may collide (a replay, another worker): ON CONFLICT, built once per dialect
        self._insert_message = self._insert(messages).on_conflict_do_nothing()
        self._insert_conversation = self._insert(conversations).on_conflict_do_nothing().returning(conversations.c.id)

    # -- connections: one transaction per call, or one for a whole unit of work ----------

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[None]:
        """Everything the Store does inside runs in one transaction (one handled message):
        committed together at the end, or not at all."""
        if _UNIT.get() is not None:
            yield
            return
        async with self.engine.begin() as conn:
            token = _UNIT.set(conn)
            try:
                yield
            finally:
                _UNIT.reset(token)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        conn = _UNIT.get()
        if conn is not None:
            yield conn
            return
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        conn = _UNIT.get()
        if conn is not None:  # sees what the unit wrote so far
            yield conn
            return
        async with self.engine.connect() as conn:
            yield conn

    def _insert(self, table: Table) -> Any:
        """INSERT with ON CONFLICT, in this database's dialect (no error, so no aborted transaction)."""
        return (pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert)(table)

    async def create_tables(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.run_sync(_add_new_columns)

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> bool:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    # -- conversations -------------------------------------------------------------

    async def open_conversation(self, account: str, customer: str) -> Conversation | None:
        async with self._read() as conn:
            row = (await conn.execute(_OPEN, {"account": account, "customer": customer})).first()
        return _conversation(row) if row else None

    async def start_conversation(
        self, account: str, customer: str, name: str, now: float, opened_by: str = ""
    ) -> Conversation:
        """Open a conversation, or return the one already open (another worker may have won).

        `opened_by` is the id of the message that opens it: handled again after a crash, that
        message still counts as the conversation's first (it is greeted, routed afresh).
        """
        row = {
            "account": account,
            "customer": customer,
            "customer_name": name,
            "status": "open",
            "agent": "",
            "created_at": now,
            "last_message_at": now,
            "opened_by": opened_by,
        }
        async with self._write() as conn:
            res = await conn.execute(self._insert_conversation, row)
            cid = res.scalar()
        if cid is not None:
            return Conversation(cid, account, customer, name, "open", now, now, opened_by=opened_by)
        conv = await self.open_conversation(account, customer)
        assert conv is not None
        return conv

    async def conversation(self, conversation_id: int) -> Conversation | None:
        async with self._read() as conn:
            row = (await conn.execute(_CONV, {"cid": conversation_id})).first()
        return _conversation(row) if row else None

    async def by_ticket(self, ticket: int) -> Conversation | None:
        return await self.conversation(ticket - TICKET_BASE)

    async def touch(self, conversation_id: int, now: float) -> None:
        async with self._write() as conn:
            await conn.execute(_TOUCH, {"cid": conversation_id, "now": now})

    async def close_conversation(self, conversation_id: int, now: float) -> None:
        await self.update_conversation(
            conversation_id, status="closed", closed_at=now, queued_at=None, waiting_since=None
        )
        await self.cancel_timers(conversation_id)

    async def update_conversation(self, conversation_id: int, **values: Any) -> None:
        async with self._write() as conn:
            await conn.execute(update(conversations).where(conversations.c.id == conversation_id).values(**values))

    async def open_conversations(self) -> list[Conversation]:
        q = select(conversations).where(conversations.c.status == "open").order_by(conversations.c.id)
        async with self._read() as conn:
            return [_conversation(r) for r in await conn.execute(q)]

    async def waiting(self) -> list[Conversation]:
        """Open conversations no agent has taken, oldest first: the queue and the 留言."""
        q = (
            select(conversations)
            .where(
                conversations.c.status == "open", conversations.c.agent == "", conversations.c.queued_at.is_not(None)
            )
            .order_by(conversations.c.queued_at, conversations.c.id)
        )
        async with self._read() as conn:
            return [_conversation(r) for r in await conn.execute(q)]

    async def load(self) -> dict[str, int]:
        """Open conversations per agent."""
        q = (
            select(conversations.c.agent, func.count())
            .where(conversations.c.status == "open", conversations.c.agent != "")
            .group_by(conversations.c.agent)
        )
        async with self._read() as conn:
            return {a: n for a, n in await conn.execute(q)}

    async def of_agent(self, agent: str) -> list[Conversation]:
        q = (
            select(conversations)
            .where(conversations.c.status == "open", conversations.c.agent == agent)
            .order_by(conversations.c.id)
        )
        async with self._read() as conn:
            return [_conversation(r) for r in await conn.execute(q)]

    async def last_agent_of(self, account: str, customer: str) -> str:
        """The agent who served this customer most recently, '' if none."""
        q = (
            select(conversations.c.agent)
            .where(
                conversations.c.account == account, conversations.c.customer == customer, conversations.c.agent != ""
            )
            .order_by(conversations.c.id.desc())
            .limit(1)
        )
        async with self._read() as conn:
            return (await conn.execute(q)).scalar() or ""

    async def survey_pending(self, account: str, customer: str, since: float) -> Conversation | None:
        """The customer's latest closed conversation still waiting for their rating."""
        params = {"account": account, "customer": customer, "since": since}
        async with self._read() as conn:
            row = (await conn.execute(_SURVEY_PENDING, params)).first()
        return _conversation(row) if row else None

    async def conversations_between(self, start: float, end: float) -> list[Conversation]:
        q = (
            select(conversations)
            .where(conversations.c.created_at >= start, conversations.c.created_at < end)
            .order_by(conversations.c.id)
        )
        async with self._read() as conn:
            return [_conversation(r) for r in await conn.execute(q)]

    async def first_questions(self, ids: list[int]) -> dict[int, tuple[float, str]]:
        """Per conversation: (time, text) of the customer's first message (not an event)."""
        if not ids:
            return {}
        first = (
            select(messages.c.conversation_id, func.min(messages.c.id).label("mid"))
            .where(
                messages.c.conversation_id.in_(ids),
                messages.c.direction == "in",
                messages.c.kind != "event",
                messages.c.account == conversations.c.account,
                conversations.c.id == messages.c.conversation_id,
            )
            .group_by(messages.c.conversation_id)
            .subquery()
        )
        q = select(messages.c.conversation_id, messages.c.created_at, messages.c.text).join(
            first, messages.c.id == first.c.mid
        )
        async with self._read() as conn:
            return {r.conversation_id: (r.created_at, r.text) for r in await conn.execute(q)}

    async def customer_texts(self, conv: Conversation, limit: int = 5, *, last: bool = False) -> list[str]:
        """What the customer wrote in this conversation: the first `limit` messages (or the last ones)."""
        q = (
            select(messages.c.text)
            .where(
                messages.c.conversation_id == conv.id,
                messages.c.direction == "in",
                messages.c.account == conv.account,
                messages.c.kind != "event",
                messages.c.purpose == "",
            )
            .order_by(messages.c.id.desc() if last else messages.c.id)
            .limit(limit)
        )
        async with self._read() as conn:
            texts = [r.text for r in await conn.execute(q)]
        return texts[::-1] if last else texts

    async def add_finding(
        self, conversation_id: int | None, agent: str, rule: str, detail: str, action: str, text_: str, now: float
    ) -> None:
        async with self._write() as conn:
            await conn.execute(
                insert(findings).values(
                    conversation_id=conversation_id,
                    agent=agent,
                    rule=rule,
                    detail=detail,
                    action=action,
                    text=text_,
                    created_at=now,
                )
            )

    async def findings_between(self, start: float, end: float) -> list[dict[str, Any]]:
        q = select(findings).where(findings.c.created_at >= start, findings.c.created_at < end)
        async with self._read() as conn:
            return [dict(r._mapping) for r in await conn.execute(q)]

    # -- timers --------------------------------------------------------------------

    async def add_timer(self, kind: str, conversation_id: int, due_at: float, marker: float | None) -> None:
        async with self._write() as conn:
            await conn.execute(
                insert(timers).values(kind=kind, conversation_id=conversation_id, due_at=due_at, marker=marker)
            )

    async def due_timers(self, now: float) -> list[dict[str, Any]]:
        q = select(timers).where(timers.c.fired_at.is_(None), timers.c.due_at <= now).order_by(timers.c.due_at)
        async with self._read() as conn:
            return [dict(r._mapping) for r in await conn.execute(q)]

    async def claim_timer(self, timer_id: int, now: float) -> bool:
        """Mark a due timer fired; True for the one caller that did (several processes may try)."""
        async with self._write() as conn:
            res = await conn.execute(
                update(timers).where(timers.c.id == timer_id, timers.c.fired_at.is_(None)).values(fired_at=now)
            )
            return res.rowcount == 1

    async def cancel_timers(self, conversation_id: int) -> None:
        async with self._write() as conn:
            await conn.execute(
                delete(timers).where(timers.c.conversation_id == conversation_id, timers.c.fired_at.is_(None))
            )

    # -- transcript ----------------------------------------------------------------

    async def record_inbound(self, msg: Message, conversation_id: int | None, now: float, purpose: str = "") -> str:
        """Log an inbound message: "new"; "done" if it was handled before (a platform retry, or
        the bus replaying it); "resume" if a crash interrupted its handling (this same message)."""
        row = {
            "uid": msg.id,
            "conversation_id": conversation_id,
            "direction": "in",
            "account": msg.account,
            "party": msg.sender,
            "party_name": msg.sender_name,
            "kind": msg.kind,
            "text": msg.summary() if msg.kind != "text" else msg.text,
            "data": json.dumps({"event": msg.event, "sent_at": msg.sent_at, **msg.data}, ensure_ascii=False),
            "external_id": msg.external_id,
            "purpose": purpose,  # "" for what people write; "rating" for a survey answer
            "status": "received",
            "error": "",
            "created_at": msg.received_at or now,  # kefu's clock, like every other time it keeps
            "updated_at": now,
        }
        async with self._write() as conn:
            res = await conn.execute(self._insert_message, row)
        if res.rowcount:
            return "new"
        async with self._read() as conn:
            row = (await conn.execute(_INBOUND_OF, {"account": msg.account, "external_id": msg.external_id})).first()
        if row is not None and row.uid == msg.id and row.status != "handled":
            return "resume"
        return "done"

    async def mark_handled(self, message_id: str, now: float) -> None:
        """Every delivery the message led to is queued: a replay of it is a plain duplicate."""
        async with self._write() as conn:
            await conn.execute(_HANDLED, {"mid": message_id, "now": now})

    async def set_conversation(self, message_id: str, conversation_id: int) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(messages).where(messages.c.uid == message_id).values(conversation_id=conversation_id)
            )

    async def record_delivery(self, d: Delivery, party_name: str, now: float) -> str:
        """Log a delivery as pending: "new", or the status it already had (a resumed handling)."""
        if await self._insert_delivery(d, party_name, now):
            return "new"
        return await self.delivery_status(d.id) or "pending"

    async def _insert_delivery(self, d: Delivery, party_name: str, now: float) -> bool:
        # what it takes to send it again from the dead-letter list
        extra = {"media": d.media, "media_from": d.media_from, "chat": d.chat, "group": d.group, "agent": d.agent}
        row = {
            "uid": d.id,
            "conversation_id": d.conversation_id,
            "direction": "out",
            "account": d.account,
            "party": d.to,
            "party_name": party_name,
            "kind": d.kind,
            "text": d.text,
            "data": json.dumps({k: v for k, v in extra.items() if v}, ensure_ascii=False),
            "external_id": None,
            "purpose": d.purpose,
            "status": "pending",
            "error": "",
            "created_at": now,
            "updated_at": now,
        }
        async with self._write() as conn:
            res = await conn.execute(self._insert_message, row)
        return bool(res.rowcount)

    async def claim_delivery(self, delivery_id: str, now: float) -> str | None:
        """Mark a pending delivery as being sent; the status it had ("pending" when claimed).

        "sending" found here means an earlier attempt was cut off mid-send (a crash, a kill):
        the platform may or may not have accepted it.
        """
        async with self._write() as conn:
            res = await conn.execute(_CLAIM, {"mid": delivery_id, "now": now})
            if res.rowcount:
                return "pending"
            return (await conn.execute(_STATUS, {"mid": delivery_id})).scalar()

    async def delivery_status(self, delivery_id: str) -> str | None:
        async with self._read() as conn:
            return (await conn.execute(_STATUS, {"mid": delivery_id})).scalar()

    async def finish_delivery(
        self, delivery_id: str, status: str, now: float, *, error: str = "", external_id: str | None = None
    ) -> None:
        params: dict[str, Any] = {"mid": delivery_id, "status": status, "error": error, "now": now}
        if external_id:
            params["external_id"] = external_id
        async with self._write() as conn:
            await conn.execute(_FINISH_WITH_ID if external_id else _FINISH, params)

    async def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """Deliveries that failed for good, newest first."""
        q = (
            select(messages)
            .where(messages.c.direction == "out", messages.c.status == "failed")
            .order_by(messages.c.id.desc())
            .limit(limit)
        )
        async with self._read() as conn:
            return [dict(r._mapping) for r in await conn.execute(q)]

    async def mark_for_retry(self, ids: list[int] | None, now: float) -> int:
        """Failed deliveries (these ids, or all) to be sent again by the running kefu."""
        q = update(messages).where(messages.c.direction == "out", messages.c.status == "failed")
        if ids is not None:
            q = q.where(messages.c.id.in_(ids))
        async with self._write() as conn:
            res = await conn.execute(q.values(status="retry", updated_at=now))
            return res.rowcount

    async def unfinished_deliveries(self) -> list[dict[str, Any]]:
        """Deliveries queued or being sent when the process stopped, oldest first."""
        q = (
            select(messages)
            .where(messages.c.direction == "out", messages.c.status.in_(("pending", "sending")))
            .order_by(messages.c.id)
        )
        async with self._read() as conn:
            return [dict(r._mapping) for r in await conn.execute(q)]

    async def take_retries(self) -> list[dict[str, Any]]:
        """The deliveries marked for retry, each taken by one process only (back to pending)."""
        async with self._read() as conn:
            rows = [dict(r._mapping) for r in await conn.execute(select(messages).where(messages.c.status == "retry"))]
        taken = []
        for row in rows:
            async with self._write() as conn:
                res = await conn.execute(
                    update(messages)
                    .where(messages.c.id == row["id"], messages.c.status == "retry")
                    .values(status="pending", error="")
                )
            if res.rowcount == 1:
                taken.append(row)
        return taken

    async def transcript(self, conversation_id: int | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        q = select(messages).order_by(messages.c.id).limit(limit)
        if conversation_id is not None:
            q = q.where(messages.c.conversation_id == conversation_id)
        async with self._read() as conn:
            return [dict(r._mapping) for r in await conn.execute(q)]

    async def exchange(self, conv: Conversation, limit: int = 10) -> list[dict[str, Any]]:
        """The last messages between the customer and kefu (no relays, notes or events), oldest first."""
        q = (
            select(messages)
            .where(
                messages.c.conversation_id == conv.id,
                messages.c.account == conv.account,
                messages.c.kind != "event",
                messages.c.purpose != "greeting",
            )
            .order_by(messages.c.id.desc())
            .limit(limit)
        )
        async with self._read() as conn:
            return [dict(r._mapping) for r in await conn.execute(q)][::-1]

    async def conversation_of_forward(self, account: str, external_id: str) -> int | None:
        """The conversation a message kefu forwarded (by the platform's id for it) belongs to."""
        q = select(messages.c.conversation_id).where(
            messages.c.account == account, messages.c.direction == "out", messages.c.external_id == external_id
        )
        async with self._read() as conn:
            return (await conn.execute(q)).scalar()

    # -- durable values ------------------------------------------------------------

    async def get_value(self, key: str) -> str | None:
        async with self._read() as conn:
            return (await conn.execute(select(kv.c.value).where(kv.c.key == key))).scalar()

    async def set_value(self, key: str, value: str, now: float) -> None:
        await self._upsert(kv, kv.c.key, key, {"value": value, "updated_at": now})

    # -- agents --------------------------------------------------------------------

    async def current_of(self, agent: str) -> int | None:
        async with self._read() as conn:
            q = select(agent_state.c.conversation_id).where(agent_state.c.agent == agent)
            return (await conn.execute(q)).scalar()

    async def set_current(self, agent: str, conversation_id: int, now: float) -> None:
        await self._upsert(
            agent_state, agent_state.c.agent, agent, {"conversation_id": conversation_id, "updated_at": now}
        )

    async def _upsert(self, table: Table, key_col: Any, key: str, values: dict[str, Any]) -> None:
        """Insert the row, or update it if it is there (one statement: two writers at once never fail)."""
        async with self._write() as conn:
            await conn.execute(
                self._insert(table)
                .values({key_col.name: key, **values})
                .on_conflict_do_update(index_elements=[key_col], set_=values)
            )


def _add_new_columns(sync_conn: Any) -> None:
    """Columns added since a database was created (create_all only creates missing tables)."""
    from sqlalchemy import inspect
    from sqlalchemy.schema import CreateColumn

    inspector = inspect(sync_conn)
    for table in metadata.sorted_tables:
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for col in table.columns:
            if col.name not in have:
                ddl = CreateColumn(col).compile(dialect=sync_conn.dialect)
                default = col.default.arg if col.default is not None and not callable(col.default.arg) else None
                extra = f" DEFAULT '{default}'" if isinstance(default, str) else ""
                sync_conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}{extra}"))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()
