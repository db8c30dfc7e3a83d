"""The knowledge base (FAQ): common questions answered before a person, entries suggested to agents,
a clean hand-over to a person. rule.py puts it in the chains; base.py keeps the file and its index;
engine.py (and embedding.py) match; knowledge.py reads the file; report.py and cli.py are for admins."""

from __future__ import annotations

from handlers.faq.rule import Faq

__all__ = ["Faq"]
