"""Conversations and the transcript, on SQLite (default) or PostgreSQL: the same SQL, a URL switch.

The schema is declared here with SQLAlchemy (and created from it); statements go to the
driver directly through bot.sql, written once for both databases.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import fields
from typing import Any

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateColumn, CreateIndex, CreateTable

from bot.model import TICKET_BASE, Conversation, Delivery, Message
from bot.sql import Conn, Database, open_database

__all__ = ["Store", "metadata"]

_UNIT: ContextVar[Conn | None] = ContextVar("kefu_store_unit", default=None)

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
    # the few rows the timer loop and a restart look for, without scanning the whole transcript
    Index(
        "ix_messages_retry",
        "id",
        sqlite_where=text("status = 'retry'"),
        postgresql_where=text("status = 'retry'"),
    ),
    Index(
        "ix_messages_unfinished",
        "id",
        sqlite_where=text("status IN ('pending', 'sending')"),
        postgresql_where=text("status IN ('pending', 'sending')"),
    ),
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
    # the timers still to fire: every tick asks for the due ones, and fired timers stay
    Index(
        "ix_timers_unfired", "due_at", sqlite_where=text("fired_at IS NULL"), postgresql_where=text("fired_at IS NULL")
    ),
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

# Agents online now, with their last activity: shared by every process, kept across a restart.
presence = Table(
    "presence",
    metadata,
    Column("agent", String(64), primary_key=True),
    Column("since", Float, nullable=False),
    Column("last_at", Float, nullable=False),
)

# Open conversations per agent, kept with every change of a conversation's agent or status, so
# an assignment reads two rows instead of counting every open conversation (Store.load).
agent_load = Table(
    "agent_load",
    metadata,
    Column("agent", String(64), primary_key=True),
    Column("open_count", Integer, nullable=False),
)


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
_MESSAGE_COLUMNS = (
    "uid, conversation_id, direction, account, party, party_name, kind, text, data, external_id, purpose, "
    "status, error, created_at, updated_at"
)
_INSERT_MESSAGE = (
    f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
    "$14, $15) ON CONFLICT DO NOTHING"
)
_INSERT_CONVERSATION = (
    "INSERT INTO conversations (account, customer, customer_name, status, agent, created_at, last_message_at, "
    "category, unreachable, opened_by) VALUES ($1, $2, $3, 'open', '', $4, $4, '', '', $5) "
    "ON CONFLICT DO NOTHING RETURNING id"
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


def _unique_violation(e: BaseException) -> bool:
    return isinstance(e, sqlite3.IntegrityError) or str(getattr(e, "sqlstate", "")) == "23505"


def _conversation(row: dict[str, Any]) -> Conversation:
    return Conversation(**{f: row[f] for f in _CONV_FIELDS})


class _InUnitOr:
    """`async with`: the unit's connection (which sees what the unit wrote so far), or that of
    `outside()`, a context manager of the database's. A class, not a generator-based context
    manager: a message's handling enters one for most statements it runs."""

    __slots__ = ("outside", "cm")

    def __init__(self, outside: Callable[[], Any]):
        self.outside = outside
        self.cm: Any = None

    async def __aenter__(self) -> Conn:
        conn = _UNIT.get()
        if conn is not None:
            return conn
        self.cm = self.outside()
        return await self.cm.__aenter__()

    async def __aexit__(self, *exc: Any) -> Any:
        if self.cm is not None:
            return await self.cm.__aexit__(*exc)
        return None


class Store:
    def __init__(self, url: str):
        self.url = url
        self.db: Database = open_database(url)
        self.dialect = self.db.dialect

    # -- connections: one transaction per call, or one for a whole unit of work ----------

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[None]:
        """Everything the Store does inside runs in one transaction (one handled message):
        committed together at the end, or not at all."""
        if _UNIT.get() is not None:
            yield
            return
        async with self.db.transaction() as conn:
            token = _UNIT.set(conn)
            try:
                yield
            finally:
                _UNIT.reset(token)

    def _write(self) -> _InUnitOr:
        return _InUnitOr(self.db.autocommit)  # outside a unit each statement stands alone

    def _read(self) -> _InUnitOr:
        return _InUnitOr(self.db.reader)

    def _changing(self) -> _InUnitOr:
        """Several statements that belong together: the unit's, or a transaction of their own."""
        return _InUnitOr(self.db.transaction)

    # The one-statement helpers below are what a message's handling calls most: they look for
    # the unit themselves rather than through _InUnitOr, one context manager less a statement
    # (1.2 % of a message's instructions on the embedded default, measured against _read/_write).

    async def _rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        if (conn := _UNIT.get()) is not None:
            return await conn.fetch(sql, *args)
        async with self.db.reader() as conn:
            return await conn.fetch(sql, *args)

    async def _row(self, sql: str, *args: Any) -> dict[str, Any] | None:
        if (conn := _UNIT.get()) is not None:
            return await conn.fetchrow(sql, *args)
        async with self.db.reader() as conn:
            return await conn.fetchrow(sql, *args)

    async def _value(self, sql: str, *args: Any) -> Any:
        if (conn := _UNIT.get()) is not None:
            return await conn.fetchval(sql, *args)
        async with self.db.reader() as conn:
            return await conn.fetchval(sql, *args)

    async def _exec(self, sql: str, *args: Any) -> int:
        if (conn := _UNIT.get()) is not None:
            return await conn.execute(sql, *args)
        async with self.db.autocommit() as conn:  # outside a unit each statement stands alone
            return await conn.execute(sql, *args)

    async def _exec_alone(self, sql: str, *args: Any) -> None:
        """A write whose count nobody needs: outside a unit it goes with the others issued meanwhile."""
        if (conn := _UNIT.get()) is not None:
            await conn.execute(sql, *args)
            return
        await self.db.write_alone(sql, args)

    async def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Rows of a read-only statement (`$1` parameters), for tools and tests."""
        return await self._rows(sql, *args)

    # -- schema --------------------------------------------------------------------

    async def create_tables(self) -> None:
        """Create what is missing (tables, indexes, columns added since); safe to run from many processes."""
        dialect = postgresql.dialect() if self.dialect == "postgresql" else sqlite.dialect()
        async with self.db.transaction() as conn:
            if self.dialect == "postgresql":  # two processes starting at once must not both create a table
                await conn.execute("SELECT pg_advisory_xact_lock(7415201)")
            count_load = not await self._columns(conn, agent_load.name)  # new, or a database from before it
            for table in metadata.sorted_tables:
                await conn.execute(str(CreateTable(table, if_not_exists=True).compile(dialect=dialect)))
                for index in sorted(table.indexes, key=lambda i: i.name or ""):
                    await conn.execute(str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect)))
                have = await self._columns(conn, table.name)
                for col in table.columns:
                    if col.name not in have:
                        ddl = CreateColumn(col).compile(dialect=dialect)
                        default = col.default.arg if col.default is not None and not callable(col.default.arg) else None
                        extra = f" DEFAULT '{default}'" if isinstance(default, str) else ""
                        await conn.execute(f"ALTER TABLE {table.name} ADD COLUMN {ddl}{extra}")
            if count_load:
                await self._recount_load(conn)

    async def _columns(self, conn: Conn, table: str) -> set[str]:
        if self.dialect == "postgresql":
            rows = await conn.fetch(
                "SELECT column_name AS name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = $1",
                table,
            )
        else:
            rows = await conn.fetch(f"SELECT name FROM pragma_table_info('{table}')")
        return {r["name"] for r in rows}

    async def recount_load(self) -> None:
        """Count each agent's open conversations afresh (after rows were written around the Store)."""
        async with self.db.transaction() as conn:
            await self._recount_load(conn)

    @staticmethod
    async def _recount_load(conn: Conn) -> None:
        await conn.execute("DELETE FROM agent_load")
        await conn.execute(
            "INSERT INTO agent_load (agent, open_count) SELECT agent, count(*) FROM conversations "
            "WHERE status = 'open' AND agent != '' GROUP BY agent"
        )

    async def drop_tables(self) -> None:
        """Drop every table of kefu's (tests and the benchmark start from empty storage)."""
        async with self.db.transaction() as conn:
            for table in reversed(metadata.sorted_tables):
                await conn.execute(f"DROP TABLE IF EXISTS {table.name}")

    async def insert_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Bulk insert (the benchmark seeds storage with it); every row has the same keys."""
        if not rows:
            return
        cols = list(rows[0])
        unknown = set(cols) - {c.name for c in metadata.tables[table].columns}
        if unknown:
            raise ValueError(f"{table}: no such columns {sorted(unknown)}")
        params = ", ".join(f"${k + 1}" for k in range(len(cols)))
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({params})"
        async with self.db.transaction() as conn:
            await conn.executemany(sql, [tuple(r[c] for c in cols) for r in rows])

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> bool:
        async with self.db.reader() as conn:
            await conn.fetchval("SELECT 1")
        return True

    # -- conversations -------------------------------------------------------------

    async def open_conversation(self, account: str, customer: str) -> Conversation | None:
        row = await self._row(_OPEN, account, customer)
        return _conversation(row) if row else None

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
        return _conversation(row) if row else None

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
        return [_conversation(r) for r in rows]

    async def waiting(self) -> list[Conversation]:
        """Open conversations no agent has taken, oldest first: the queue and the 留言."""
        rows = await self._rows(
            f"SELECT {_CONV_COLUMNS} FROM conversations WHERE status = 'open' AND agent = '' "
            "AND queued_at IS NOT NULL ORDER BY queued_at, id"
        )
        return [_conversation(r) for r in rows]

    async def load(self) -> dict[str, int]:
        """Open conversations per agent."""
        rows = await self._rows("SELECT agent, open_count FROM agent_load WHERE open_count > 0")
        return {r["agent"]: r["open_count"] for r in rows}

    async def of_agent(self, agent: str) -> list[Conversation]:
        rows = await self._rows(
            f"SELECT {_CONV_COLUMNS} FROM conversations WHERE status = 'open' AND agent = $1 ORDER BY id", agent
        )
        return [_conversation(r) for r in rows]

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
        return _conversation(row) if row else None

    async def open_and_survey_pending(
        self, account: str, customer: str, since: float
    ) -> tuple[Conversation | None, Conversation | None]:
        """open_conversation and survey_pending in one read."""
        found = {
            r["found"]: _conversation(r) for r in await self._rows(_OPEN_AND_SURVEY_PENDING, account, customer, since)
        }
        return found.get("open"), found.get("survey")

    async def conversations_between(self, start: float, end: float) -> list[Conversation]:
        rows = await self._rows(
            f"SELECT {_CONV_COLUMNS} FROM conversations WHERE created_at >= $1 AND created_at < $2 ORDER BY id",
            start,
            end,
        )
        return [_conversation(r) for r in rows]

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

    # -- timers --------------------------------------------------------------------

    async def add_timer(self, kind: str, conversation_id: int, due_at: float, marker: float | None) -> None:
        await self._exec(
            "INSERT INTO timers (kind, conversation_id, due_at, marker) VALUES ($1, $2, $3, $4)",
            kind,
            conversation_id,
            due_at,
            marker,
        )

    async def due_timers(self, now: float) -> list[dict[str, Any]]:
        return await self._rows("SELECT * FROM timers WHERE fired_at IS NULL AND due_at <= $1 ORDER BY due_at", now)

    async def claim_timer(self, timer_id: int, now: float) -> bool:
        """Mark a due timer fired; True for the one caller that did (several processes may try)."""
        return (
            await self._exec("UPDATE timers SET fired_at = $2 WHERE id = $1 AND fired_at IS NULL", timer_id, now) == 1
        )

    async def cancel_timers(self, conversation_id: int) -> None:
        await self._exec("DELETE FROM timers WHERE conversation_id = $1 AND fired_at IS NULL", conversation_id)

    # -- transcript ----------------------------------------------------------------

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
        await self._exec_alone(_HANDLED, message_id, now)

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
                await self._exec_alone(_FINISH_WITH_ID, delivery_id, status, error, now, external_id)
                return
            except Exception as e:  # two recorded with the same id at the same moment: the first keeps it
                if not _unique_violation(e):
                    raise
            await self._exec_alone(_FINISH, delivery_id, status, error, now)
        else:
            await self._exec_alone(_FINISH, delivery_id, status, error, now)

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
        await self._exec_alone("UPDATE presence SET last_at = $2 WHERE agent = $1", agent, now)

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
