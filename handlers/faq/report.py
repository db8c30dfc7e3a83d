"""What the knowledge base could not answer, most asked first; its answer rate; and how often an
automatic answer was followed by 人工 (a sign the answer is wrong): for `kefu report`."""

from __future__ import annotations

from collections import Counter
from typing import Any

from handlers.faq.normalize import normalize

__all__ = ["faq_lines", "faq_figures"]

ASKED = ("answered", "suggested", "missed")


def faq_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """From faq_log rows, oldest first."""
    asked = [r for r in rows if r["outcome"] in ASKED]
    answered = sum(1 for r in asked if r["outcome"] == "answered")
    last: dict[int, str] = {}  # conversation -> its previous outcome
    handovers = after_answer = 0
    for r in rows:
        if r["outcome"] == "handover" and r["reason"] != "misses":
            handovers += 1
            after_answer += last.get(r["conversation_id"]) == "answered"
        last[r["conversation_id"]] = r["outcome"]
    unanswered: Counter[str] = Counter()
    shown: dict[str, str] = {}  # normalized -> as first asked
    for r in asked:
        if r["outcome"] != "answered":
            key = normalize(r["text"]) or r["text"]
            shown.setdefault(key, r["text"])
            unanswered[key] += 1
    return {
        "asked": len(asked),
        "answered": answered,
        "handovers": handovers,
        "after_answer": after_answer,
        "unanswered": [(shown[k], n) for k, n in unanswered.most_common()],
    }


def faq_lines(rows: list[dict[str, Any]], top: int = 10) -> list[str]:
    f = faq_figures(rows)
    if not f["asked"] and not f["handovers"]:
        return ["知识库: 无提问"]
    rate = f["answered"] / f["asked"] if f["asked"] else 0.0
    wrong = f["after_answer"] / f["answered"] if f["answered"] else 0.0
    lines = [
        f"知识库: 提问 {f['asked']}, 自动回答 {f['answered']} (回答率 {rate:.0%})",
        f"转人工: {f['handovers']} 次; 自动回答后又转人工 {f['after_answer']} 次 (占自动回答 {wrong:.0%})",
    ]
    if f["unanswered"]:
        lines.append("未能回答的问题 (按次数):")
        lines += [f"  {n}× {text}" for text, n in f["unanswered"][:top]]
        if len(f["unanswered"]) > top:
            lines.append(f"  …… 另有 {len(f['unanswered']) - top} 个")
    return lines
