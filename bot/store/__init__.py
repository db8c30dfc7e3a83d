"""Storage on SQLite (the default) or PostgreSQL: the same SQL, a URL switch.

One concept a module: the schema, the database (db, sqlite, postgres), and what is kept:
conversations, the transcript with its deliveries (the outbox), timers, agents and values, the
knowledge base's log, the embedded bus's entries and the console's audit log.
"""

from __future__ import annotations

from bot.store.agents import Agents
from bot.store.audit import Audit
from bot.store.conversations import Conversations
from bot.store.entries import Entries
from bot.store.faq_log import FaqLog
from bot.store.schema import metadata
from bot.store.timers import Timers
from bot.store.transcript import Transcript

__all__ = ["Store", "metadata"]


class Store(Conversations, Transcript, Timers, Agents, Entries, FaqLog, Audit):
    """Everything kefu keeps, behind one object the rules and the runtime share."""
