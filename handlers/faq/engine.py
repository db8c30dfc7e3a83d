"""Matching engines behind one interface: index the entries' questions, rank a question against them.

Scores are in [0, 1] so thresholds mean the same whatever the size of the knowledge base. Engines
are CPU work: the rule calls them through asyncio.to_thread, never on the event loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import bm25s
import numpy as np

from handlers.faq.normalize import normalize

__all__ = ["Engine", "Lexical", "bigrams", "words"]


def bigrams(text: str) -> list[str]:
    """Overlapping pairs of characters within each run (a lone character stands for itself)."""
    out: list[str] = []
    for run in text.split():
        out += [run] if len(run) < 2 else [run[i : i + 2] for i in range(len(run) - 1)]
    return out


def words(text: str) -> list[str]:
    """jieba's words, in its search mode (long words also as their shorter words)."""
    import jieba

    return [w for w in jieba.lcut_for_search(text) if w.strip()]


class Engine(ABC):
    """Ranks a question against the entries; each entry is its standard question and its similar ones."""

    name: str = ""

    @abstractmethod
    def index(self, entries: Sequence[Sequence[str]], answers: Sequence[str] = ()) -> None:
        """Build the index from each entry's questions (as written: the engine normalizes), and
        from its answer where the engine reads answers."""

    @abstractmethod
    def rank(self, question: str, k: int = 3) -> list[tuple[int, float]]:
        """The best `k` entries as (position in `entries`, score in [0, 1]), best first."""

    def carry_over(self, previous: Engine) -> None:
        """Before `index` on reading the file again: take what the engine in use can lend (vectors)."""


class Lexical(Engine):
    """BM25 (bm25s) over tokens, each entry scoring as its best question. A question's score is its
    BM25 against the entry's question over the geometric mean of what each side scores against
    itself, so a short question inside a long one, or the reverse, scores low."""

    def __init__(self, tokenize: Callable[[str], list[str]], name: str):
        self.tokenize, self.name = tokenize, name
        self._owner: np.ndarray = np.zeros(0, dtype=np.int64)
        self._self: np.ndarray = np.zeros(0)
        self._bm25: bm25s.BM25 | None = None
        self._count = 0

    def index(self, entries: Sequence[Sequence[str]], answers: Sequence[str] = ()) -> None:
        texts, owner = [], []  # not the answers: they share too many words with other questions
        for i, questions in enumerate(entries):
            for q in questions:
                texts.append(self.tokenize(normalize(q)) or [""])
                owner.append(i)
        self._count = len(entries)
        self._owner = np.asarray(owner, dtype=np.int64)
        self._bm25 = bm25s.BM25()
        self._bm25.index(texts, show_progress=False)
        self._self = np.array([self._raw(t)[d] for d, t in enumerate(texts)]) if texts else np.zeros(0)

    def _raw(self, tokens: list[str]) -> np.ndarray:
        assert self._bm25 is not None
        ids = self._bm25.get_tokens_ids(tokens)
        if not ids:
            return np.zeros(len(self._owner))
        return np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float64)

    def _alone(self, tokens: list[str]) -> float:
        """What the question would score against itself: each known token's best weight in any text."""
        assert self._bm25 is not None
        s = self._bm25.scores
        total = 0.0
        for t in self._bm25.get_tokens_ids(tokens):
            lo, hi = s["indptr"][t], s["indptr"][t + 1]
            total += float(s["data"][lo:hi].max()) if hi > lo else 0.0
        return total

    def rank(self, question: str, k: int = 3) -> list[tuple[int, float]]:
        if self._bm25 is None or not self._count:
            return []
        tokens = self.tokenize(normalize(question))
        raw = self._raw(tokens)
        alone = self._alone(tokens)
        if alone <= 0:
            return []
        per_text = raw / np.sqrt(alone * np.maximum(self._self, 1e-9))
        best = np.zeros(self._count)
        np.maximum.at(best, self._owner, np.minimum(per_text, 1.0))
        order = np.argsort(-best, kind="stable")[:k]
        return [(int(i), float(best[i])) for i in order if best[i] > 0]
