"""The knowledge base's default engine and thresholds, on the held-out half of the evaluation set
(tests/faq_eval/shop.yaml; bench/faq.py tuned the thresholds on the other half)."""

from __future__ import annotations

from bench.faq import halves, load, measure
from bot.config import FaqConfig
from handlers.faq.base import make_engine


def test_the_default_engine_answers_only_what_it_knows_on_questions_it_was_not_tuned_on():
    cfg = FaqConfig()
    entries, answers, questions = load()
    engine = make_engine(cfg.engine)
    engine.index(entries, answers)
    _, held = halves(questions)
    for q in held:
        q.ranked = engine.rank(q.text, k=3)
    m = measure(held, cfg.answer_at, cfg.suggest_at)
    assert m["precision"] >= 0.95, m  # issue 24's target
    assert m["unanswerable"] <= 0.05 and m["hard"] <= 0.05, m  # issue 24's target, the hard ones too
    assert m["top3"] >= 0.95, m  # issue 24's target: the right entry among the agent's suggestions
    # below issue 24's target (50 %), recorded in bench/RESULTS.md: held here so it does not slip
    assert m["answered"] >= 0.08, m
