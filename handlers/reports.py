"""The daily summary and `kefu report`.

The summary (conversations, first-response median and p90, SLA breaches, quality findings,
satisfaction) is posted to a group at reports.daily_at and printed by `kefu report --daily DATE`;
`kefu report --from --to --out` writes the record sheet (在线客服受理记录表, built in bot.records).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
from collections import Counter
from pathlib import Path

from bot.chain import Desk
from bot.clock import Clock
from bot.config import Config
from bot.records import (
    COLUMNS,
    RULE_NAMES,
    bounds,
    breached,
    category_label,
    consultations,
    duration_text,
    p90,
    record_rows,
    write_csv,
    write_xlsx,
)
from bot.registry import Command
from bot.store import Store
from handlers.faq.report import faq_lines
from handlers.schedule import schedule_of

__all__ = [
    "COLUMNS",
    "COMMAND",
    "record_rows",
    "write_csv",
    "write_xlsx",
    "daily_summary",
    "post_daily",
    "duration_text",
]


async def daily_summary(store: Store, config: Config, day: dt.date, now: float) -> str:
    items = [i for i in await consultations(store, config, day, day) if i["asked_at"] is not None]
    limit = config.sla.first_response
    responses = [i["response"] for i in items if i["response"] is not None]
    breaches = sum(breached(i, limit, now) for i in items)
    closed = sum(1 for i in items if i["conv"].status == "closed")
    lines = [f"📊 在线客服日报 {day:%Y-%m-%d}", f"会话: {len(items)} (已结束 {closed}, 未结束 {len(items) - closed})"]
    if responses:
        lines.append(
            f"首次响应: 中位数 {duration_text(statistics.median(responses))}, P90 {duration_text(p90(responses))}"
            f" (已响应 {len(responses)}/{len(items)})"
        )
    else:
        lines.append("首次响应: 无")
    lines.append(f"超时 (首次响应超过 {duration_text(limit)}): {breaches}")
    start, end = bounds(config, day, day)
    found = Counter(RULE_NAMES.get(f["rule"], f["rule"]) for f in await store.findings_between(start, end))
    detail = ", ".join(f"{k} {v}" for k, v in found.most_common())
    lines.append(f"回复质量提醒: {sum(found.values())}" + (f" ({detail})" if detail else ""))
    rated = [i["conv"].rating for i in items if i["conv"].rating]
    if rated:
        dist = Counter(rated)
        spread = ", ".join(f"{s}分 {dist[s]}" for s in sorted(dist, reverse=True))
        low = sum(1 for r in rated if r <= config.survey.low_score)
        lines.append(f"满意度: 平均 {statistics.mean(rated):.1f} 分 (评价 {len(rated)} 条: {spread}); 差评 {low}")
    else:
        lines.append("满意度: 无评价")
    cats = Counter(x for i in items for x in i["conv"].category.split(",") if x)
    if cats:
        lines.append("分类: " + ", ".join(f"{category_label(config, k)} {v}" for k, v in cats.most_common()))
    if config.faq.file:
        lines += faq_lines(await store.faq_between(start, end), top=5)
    return "\n".join(lines)


async def post_daily(desk: Desk) -> None:
    """Timer: the day's summary to reports.to at reports.daily_at, once per day across processes."""
    cfg = desk.config.reports
    if not cfg.daily_at or not cfg.to:
        return
    now = schedule_of(desk.config).local(desk.now)
    hh, mm = (int(x) for x in cfg.daily_at.split(":"))
    due = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if not (due <= now < due + dt.timedelta(hours=1)):
        return
    if not await desk.state.add(f"daily:{now.date().isoformat()}", ttl=2 * 86400):
        return
    desk.tell_group(cfg.to, await daily_summary(desk.store, desk.config, now.date(), desk.now))


# -- `kefu report` ----------------------------------------------------------------------------


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", default="kefu.yaml", help="the YAML file (its storage is read)")
    p.add_argument("--from", dest="date_from", help="first day, e.g. 2026-11-01")
    p.add_argument("--to", dest="date_to", help="last day, e.g. 2026-11-30")
    p.add_argument("--format", choices=["xlsx", "csv"], help="default: from --out's suffix")
    p.add_argument("--out", help="the file to write")
    p.add_argument("--daily", metavar="DATE", help="print the daily summary of this day")
    p.add_argument("--faq", action="store_true", help="print what the knowledge base answered from --from to --to")


def _day(text: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        print(f"kefu report: {flag} {text!r} is not a date like 2026-11-01", file=sys.stderr)
        raise SystemExit(2) from None


async def _report(args: argparse.Namespace) -> int:
    from bot.cli import load_or_exit, open_store  # only when the command runs: the rules never need the CLI

    cfg = load_or_exit(args.config)
    store = await open_store(cfg.storage)
    try:
        if args.daily:
            print(await daily_summary(store, cfg, _day(args.daily, "--daily"), Clock().now()))
            return 0
        if not (args.date_from and args.date_to and (args.out or args.faq)):
            print("kefu report: give --daily DATE, or --from, --to and --out (or --faq)", file=sys.stderr)
            return 2
        first, last = _day(args.date_from, "--from"), _day(args.date_to, "--to")
        if args.faq:
            print(
                "\n".join(
                    [f"知识库 {first} 至 {last}", *faq_lines(await store.faq_between(*bounds(cfg, first, last)), 50)]
                )
            )
            return 0
        rows = await record_rows(store, cfg, first, last)
        out = Path(args.out)
        fmt = args.format or ("xlsx" if out.suffix.lower() == ".xlsx" else "csv")
        (write_xlsx if fmt == "xlsx" else write_csv)(rows, out)
        print(f"{out}: {len(rows)} conversations from {first} to {last} ({fmt})")
        return 0
    finally:
        await store.close()


COMMAND = Command("report", "the record sheet (CSV/XLSX) or the daily summary", _arguments, _report)
