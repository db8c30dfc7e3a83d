"""`kefu faq test "问题"`: the knowledge base's best matches for a question, with their scores and
what kefu would do; `kefu faq check`: read the file and say what is wrong with it."""

from __future__ import annotations

import argparse
import sys

from bot.errors import ConfigError
from bot.registry import Command

__all__ = ["COMMAND"]


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", default="kefu.yaml", help="the YAML file (its faq: section is read)")
    p.add_argument("action", choices=["test", "check"], help="test: match a question; check: read the file")
    p.add_argument("question", nargs="?", default="", help='the question, e.g. "怎么退货"')
    p.add_argument("--top", type=int, default=5, help="how many matches to show (default 5)")


async def _run(args: argparse.Namespace) -> int:
    from bot.cli import load_or_exit
    from handlers.faq.base import KnowledgeBase

    cfg = load_or_exit(args.config).faq
    if not cfg.file:
        print(f"kefu faq: {args.config} has no faq.file", file=sys.stderr)
        return 2
    try:
        kb = KnowledgeBase(cfg)
    except ConfigError as e:
        print(f"kefu faq: {e}", file=sys.stderr)
        return 2
    if args.action == "check":
        print(f"{cfg.file}: {len(kb.entries)} entries, OK")
        return 0
    if not args.question.strip():
        print('kefu faq test: give the question, e.g. kefu faq test "怎么退货"', file=sys.stderr)
        return 2
    matches = await kb.match(args.question, k=args.top)
    top = matches[0].score if matches else 0.0
    verdict = (
        "answered at once"
        if top >= cfg.answer_at
        else ("suggested to the agent" if top >= cfg.suggest_at else "not answered (today's flow)")
    )
    print(
        f"{args.question!r}: {verdict} (engine {cfg.engine}: answer at ≥ {cfg.answer_at:g}, "
        f"suggest at ≥ {cfg.suggest_at:g})"
    )
    for m in matches:
        print(f"  {m.score:.3f}  /faq {m.entry.id}  {m.entry.q}")
    if not matches:
        print("  (no entry shares a word with it)")
    return 0


COMMAND = Command("faq", "the knowledge base: test a question against it, or check its file", _arguments, _run)
