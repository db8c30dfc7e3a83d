"""kefu's tables, declared with SQLAlchemy (their DDL is compiled by it; statements go to the driver)."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text, text

__all__ = [
    "metadata",
    "conversations",
    "messages",
    "timers",
    "findings",
    "kv",
    "faq_log",
    "agent_state",
    "presence",
    "agent_load",
    "bus",
    "audit",
]

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
    ),  # received | handled | pending | sending | sent | failed | refused | held | retry
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

# What the knowledge base did with each customer question (handlers/faq), for `kefu report`.
faq_log = Table(
    "faq_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", Integer, nullable=False, index=True),
    Column("text", Text, nullable=False),
    Column("outcome", String(16), nullable=False),  # answered | suggested | missed | handover
    Column("entry", Integer),  # the entry answered or suggested
    Column("score", Float),
    Column("reason", String(16), nullable=False, default=""),  # handover: word | menu | misses
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


# Who did what in the supervisor's console (logins, refused logins, actions, downloads).
audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("username", String(64), nullable=False),
    Column("address", String(64), nullable=False, default=""),  # the client's IP address
    Column("action", String(32), nullable=False),  # login, login_refused, logout, reassign, close, retry, download
    Column("detail", Text, nullable=False, default=""),
    Column("outcome", String(16), nullable=False, default="ok"),  # ok | refused | failed
)


# The embedded bus's entries (bot.bus.memory): what a webhook acknowledged is on disk before it
# is answered, and a restart handles what was not finished, in order.
bus = Table(
    "bus",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(16), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("lane", String(255), nullable=False, default=""),
    Column("payload", Text, nullable=False),
)
