"""Other confidence rules for the embedding engine, measured like bench/faq.py: when to answer at
once, given the entry it ranks first. Each rule's threshold is the lowest (in steps of 0.01) that
keeps precision ≥ 95 % and unanswerable answered ≤ 5 % on the tuning half; figures on the held-out
half. Suggestions: embedding order, score ≥ 0.30 (the product's suggest_at when measured), except the
last rows: the right entry among the first 3 in another order, or with a lower suggest_at.

    python bench/faq_rules.py

Then the same tuning on 40 random halves, averaged: how much of a rule's figure is the one split.

The rules need each stored question's cosine, not only the Engine interface's ranked list: this
reads the embedding engine's vectors. ms: the rule's work per question over the embedding
engine's rank at the set's 33 entries (model time included), one thread.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent))
from bench.faq import halves, load  # noqa: E402
from handlers.faq.base import make_engine  # noqa: E402
from handlers.faq.normalize import normalize  # noqa: E402

STEPS = [round(0.01 * i, 2) for i in range(-50, 301)]


def features(emb, lex: dict, text: str, n: int) -> dict:
    """The embedding's top entry and what each rule reads about it (scores on the engine's scale)."""
    start = time.perf_counter()
    own, first = emb._owner, np.r_[True, emb._owner[1:] != emb._owner[:-1]]
    vector = emb._embed([normalize(text) or " "])[0]
    cos = emb._vectors @ vector
    scale = lambda c: np.clip((c - 0.85) / 0.15, 0, 1)  # noqa: E731  embedding.py's
    best = np.full(n, -1.0)
    np.maximum.at(best, own, cos)
    similar = np.full(n, -1.0)
    np.maximum.at(similar, own[~first], cos[~first])
    mean = scale(np.bincount(own, cos, n) / np.bincount(own, minlength=n))
    order = 0.7 * best + 0.3 * (emb._answers @ vector)  # embedding.py's ranking
    top, score = int(np.argmax(order)), scale(best)
    f = {"top": top, "score": score[top], "ms": (time.perf_counter() - start) * 1000, "top3": np.argsort(-order)[:3]}
    f["top3 scores"] = [(int(i), score[i]) for i in f["top3"]]
    f["suggest"] = [i for i, s in f["top3 scores"] if s >= 0.30]
    f["margin"] = score[top] - np.delete(score, top).max()
    f["mean"], f["mean margin"] = mean[top], mean[top] - np.delete(mean, top).max()
    f["standard q"], f["similar q"] = scale(cos[first][top]), scale(similar[top])
    for name, engine in lex.items():
        start = time.perf_counter()
        ranked = engine.rank(text, k=n)
        f[f"{name} ms"] = (time.perf_counter() - start) * 1000
        f[f"{name} agrees"] = bool(ranked) and ranked[0][0] == top
        rank_of = {i: r for r, (i, _) in enumerate(ranked)}
        rrf = {i: 1 / (60 + r) + 1 / (60 + rank_of.get(i, n)) for r, i in enumerate(np.argsort(-order))}
        f[f"rrf {name}"] = sorted(rrf, key=rrf.get, reverse=True)[:3]
    return f


RULES = {  # name: (confidence, extra work per question besides the embedding)
    "score (today's rule)": (lambda f: f["score"], ""),
    "margin to the 2nd entry": (lambda f: f["margin"], ""),
    "score + margin": (lambda f: f["score"] + f["margin"], ""),
    "score + 2 × margin": (lambda f: f["score"] + 2 * f["margin"], ""),
    "standard question only": (lambda f: f["standard q"], ""),
    "best similar question only": (lambda f: f["similar q"], ""),
    "mean over q + similar": (lambda f: f["mean"], ""),
    "mean's margin to the 2nd entry": (lambda f: f["mean margin"], ""),
    "score, if bigrams rank it first too": (lambda f: f["score"] if f["bigrams agrees"] else -9, "bigrams"),
    "score, if words rank it first too": (lambda f: f["score"] if f["words agrees"] else -9, "words"),
}


def measure(fs: list[dict], sure) -> dict[str, float]:
    known, unknown = [f for f in fs if f["entry"] is not None], [f for f in fs if f["entry"] is None]
    auto = [f for f in fs if sure(f)]
    right = sum(f["entry"] == f["top"] for f in auto)
    return {
        "precision": right / len(auto) if auto else 1.0,
        "answered": right / len(known),
        "unanswerable": sum(f["entry"] is None for f in auto) / len(unknown),
        "hard": sum(f["hard"] for f in auto) / sum(f["hard"] for f in unknown),
        "top3": sum(f["entry"] in f["suggest"] for f in known) / len(known),
    }


def thresholds(confidence) -> list[tuple]:
    return [(t, lambda f, t=t: confidence(f) >= t) for t in STEPS]


def _meets(m: dict[str, float]) -> bool:
    return m["precision"] >= 0.95 and m["unanswerable"] <= 0.05


def lowest(fs: list[dict], sure_at) -> tuple | None:
    """The first setting in `sure_at`'s order meeting the precision and unanswerable targets."""
    for t, sure in sure_at:
        if _meets(measure(fs, sure)):
            return t, sure
    return None


def random_halves(fs: list[dict], seed: int) -> tuple[list[dict], list[dict]]:
    """Two halves at random, each entry's questions and the hard and other unanswerable split evenly."""
    rng, groups = random.Random(seed), {}
    for f in fs:
        groups.setdefault((f["entry"], f["hard"]), []).append(f)
    one, other = [], []
    for group in groups.values():
        rng.shuffle(group)
        one, other = one + group[: len(group) // 2], other + group[len(group) // 2 :]
    return (one, other) if seed % 2 else (other, one)


def across_splits(fs: list[dict], count: int = 40) -> None:
    """The fixed halves are one draw: the same tuning on `count` random halves, figures averaged."""
    print(f"\nAcross {count} random halves (tuned on one, measured on the other; mean):\n")
    print("| rule | precision | answered | unanswerable answered | both targets held |")
    print("|---|---|---|---|---|")
    for name, (confidence, _) in RULES.items():
        got = []
        for seed in range(count):
            tuning, held = random_halves(fs, seed)
            found = lowest(tuning, thresholds(confidence))
            if found:
                m = measure(held, found[1])
                got.append((m["precision"], m["answered"], m["unanswerable"], _meets(m)))
        p, a, u, ok = np.mean(got, axis=0) if got else (0, 0, 0, 0)
        print(f"| {name} | {p:.1%} | {a:.1%} | {u:.1%} | {ok:.0%} of {len(got)} |")


def main() -> int:
    entries, answers, qs = load()
    emb = make_engine("embedding")
    emb.index(entries, answers)
    lex = {name: make_engine(name) for name in ("bigrams", "words")}
    for engine in lex.values():
        engine.index(entries)
    fs = [dict(features(emb, lex, q.text, len(entries)), entry=q.entry, hard=q.hard) for q in qs]
    tuning, held = halves(fs)
    print(
        "| rule | answer at (tuned on half) | precision | answered | unanswerable answered | hard ones | top 3 | ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rules = {k: thresholds(c) for k, (c, _) in RULES.items()}
    union = [
        ((a, b), lambda f, a=a, b=b: f["score"] >= a or f["mean"] >= b) for a in STEPS[50:151] for b in STEPS[50:151]
    ]
    tuned_union = max(
        (u for u in union if lowest(tuning, [u])), key=lambda u: measure(tuning, u[1])["answered"], default=None
    )
    rules["score ≥ a or mean ≥ b"] = [tuned_union] if tuned_union else []
    extra = {**{k: w for k, (_, w) in RULES.items()}, "score ≥ a or mean ≥ b": ""}
    for name, sure_at in rules.items():
        found = lowest(tuning, sure_at)
        if found is None:
            print(f"| {name} | none meets the targets on the tuning half | | | | | | |")
            continue
        t, sure = found
        m = measure(held, sure)
        ms = np.mean([f["ms"] + (f[f"{extra[name]} ms"] if extra[name] else 0) for f in fs])
        at = ", ".join(f"{x:.2f}" for x in t) if isinstance(t, tuple) else f"{t:.2f}"
        print(
            f"| {name} | {at} | {m['precision']:.1%} | {m['answered']:.1%} | {m['unanswerable']:.1%} "
            f"| {m['hard']:.1%} | {m['top3']:.1%} | {ms:.1f} |"
        )
    known = [f for f in held if f["entry"] is not None]
    for name, key in (
        ("embedding order, any score", "top3"),
        ("RRF embedding + bigrams", "rrf bigrams"),
        ("RRF embedding + words", "rrf words"),
    ):
        share = sum(f["entry"] in list(f[key]) for f in known) / len(known)
        print(f"| top 3 only: {name} | | | | | | {share:.1%} | |")
    share = lambda fs, at: np.mean([any(i == f["entry"] and s >= at for i, s in f["top3 scores"]) for f in fs])  # noqa: E731
    known_tuning = [f for f in tuning if f["entry"] is not None]
    at = max(t for t in STEPS[50:101] if t == 0 or share(known_tuning, t) >= 0.95)
    print(f"| top 3 only: embedding order, suggest_at {at:.2f} (tuned on half) | | | | | | {share(known, at):.1%} | |")
    across_splits(fs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
