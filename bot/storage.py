"""Conversations and the transcript, on SQLite (default) or PostgreSQL: the same SQL, a URL switch."""

from __future__ import annotations

import json
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
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.model import TICKET_BASE, Conversation, Delivery, Message

__all__ = ["Store", "async_url", "metadata"]

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
    # at most one open conversation per customer per inbox
    Index(
        "uq_open_conversation",
        "account",
        "customer",
        unique=True,
        sqlite_where=text("status = 'open'"),
        postgresql_where=text("status = 'open'"),
    ),
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
    Column("status", String(16), nullable=False),  # received | pending | sent | failed
    Column("error", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("uq_platform_message", "account", "direction", "external_id", unique=True),
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


def _conversation(row: Any) -> Conversation:
    return Conversation(
        id=row.id,
        account=row.account,
        customer=row.customer,
        customer_name=row.customer_name,
        status=row.status,
        created_at=row.created_at,
        last_message_at=row.last_message_at,
        agent=row.agent,
    )


class Store:
    def __init__(self, url: str):
        self.url = async_url(url)
        self.engine: AsyncEngine = create_async_engine(self.url, pool_pre_ping=True)
        if self.url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    async def create_tables(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> bool:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    # -- conversations -------------------------------------------------------------

    async def open_conversation(self, account: str, customer: str) -> Conversation | None:
        q = select(conversations).where(
            conversations.c.account == account,
            conversations.c.customer == customer,
            conversations.c.status == "open",
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(q)).first()
        return _conversation(row) if row else None

    async def start_conversation(self, account: str, customer: str, name: str, now: float) -> Conversation:
        """Open a conversation, or return the one already open (another worker may have won)."""
        try:
            async with self.engine.begin() as conn:
                res = await conn.execute(
                    insert(conversations).values(
                        account=account,
                        customer=customer,
                        customer_name=name,
                        status="open",
                        agent="",
                        created_at=now,
                        last_message_at=now,
                    )
                )
                cid = res.inserted_primary_key[0]
            return Conversation(cid, account, customer, name, "open", now, now)
        except IntegrityError:
            conv = await self.open_conversation(account, customer)
            assert conv is not None
            return conv

    async def conversation(self, conversation_id: int) -> Conversation | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(conversations).where(conversations.c.id == conversation_id))).first()
        return _conversation(row) if row else None

    async def by_ticket(self, ticket: int) -> Conversation | None:
        return await self.conversation(ticket - TICKET_BASE)

    async def touch(self, conversation_id: int, now: float) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(conversations).where(conversations.c.id == conversation_id).values(last_message_at=now)
            )

    async def close_conversation(self, conversation_id: int, now: float) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(conversations)
                .where(conversations.c.id == conversation_id)
                .values(status="closed", closed_at=now)
            )

    # -- transcript ----------------------------------------------------------------

    async def record_inbound(self, msg: Message, conversation_id: int | None, now: float) -> bool:
        """Log an inbound message; False if the platform's id was already logged (a retry)."""
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(messages).values(
                        uid=msg.id,
                        conversation_id=conversation_id,
                        direction="in",
                        account=msg.account,
                        party=msg.sender,
                        party_name=msg.sender_name,
                        kind=msg.kind,
                        text=msg.summary() if msg.kind != "text" else msg.text,
                        data=json.dumps({"event": msg.event, **msg.data}, ensure_ascii=False),
                        external_id=msg.external_id,
                        purpose="",
                        status="received",
                        error="",
                        created_at=msg.sent_at or now,
                        updated_at=now,
                    )
                )
            return True
        except IntegrityError:
            return False

    async def set_conversation(self, message_id: str, conversation_id: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(messages).where(messages.c.uid == message_id).values(conversation_id=conversation_id)
            )

    async def record_delivery(self, d: Delivery, party_name: str, now: float) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(messages).values(
                    uid=d.id,
                    conversation_id=d.conversation_id,
                    direction="out",
                    account=d.account,
                    party=d.to,
                    party_name=party_name,
                    kind=d.kind,
                    text=d.text,
                    data=json.dumps({"media": d.media} if d.media else {}),
                    external_id=None,
                    purpose=d.purpose,
                    status="pending",
                    error="",
                    created_at=now,
                    updated_at=now,
                )
            )

    async def delivery_status(self, delivery_id: str) -> str | None:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(messages.c.status).where(messages.c.uid == delivery_id))).scalar()

    async def finish_delivery(
        self, delivery_id: str, status: str, now: float, *, error: str = "", external_id: str | None = None
    ) -> None:
        values: dict[str, Any] = {"status": status, "error": error, "updated_at": now}
        if external_id:
            values["external_id"] = external_id
        async with self.engine.begin() as conn:
            await conn.execute(update(messages).where(messages.c.uid == delivery_id).values(**values))

    async def transcript(self, conversation_id: int | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        q = select(messages).order_by(messages.c.id).limit(limit)
        if conversation_id is not None:
            q = q.where(messages.c.conversation_id == conversation_id)
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(q)]

    async def conversation_of_forward(self, account: str, external_id: str) -> int | None:
        """The conversation a message kefu forwarded (by the platform's id for it) belongs to."""
        q = select(messages.c.conversation_id).where(
            messages.c.account == account, messages.c.direction == "out", messages.c.external_id == external_id
        )
        async with self.engine.connect() as conn:
            return (await conn.execute(q)).scalar()

    # -- agents --------------------------------------------------------------------

    async def current_of(self, agent: str) -> int | None:
        async with self.engine.connect() as conn:
            q = select(agent_state.c.conversation_id).where(agent_state.c.agent == agent)
            return (await conn.execute(q)).scalar()

    async def set_current(self, agent: str, conversation_id: int, now: float) -> None:
        async with self.engine.begin() as conn:
            res = await conn.execute(
                update(agent_state)
                .where(agent_state.c.agent == agent)
                .values(conversation_id=conversation_id, updated_at=now)
            )
            if res.rowcount == 0:
                await conn.execute(
                    insert(agent_state).values(agent=agent, conversation_id=conversation_id, updated_at=now)
                )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()
