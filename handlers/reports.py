"""The record sheet (在线客服受理记录表) as CSV or XLSX, and the daily summary.

One row per conversation opened in the period. The daily summary (conversations,
first-response median and p90, SLA breaches, quality findings, satisfaction) is posted to a
group at reports.daily_at and printed by `kefu report --daily DATE`.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bot.chain import Desk
from bot.clock import Clock
from bot.config import Config
from bot.registry import Command
from bot.store import Store
from handlers.faq.report import faq_lines
from handlers.routing import category_label
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

COLUMNS = ["日期", "工单号", "客户", "渠道", "类别", "咨询内容摘要", "受理客服", "首次响应时长", "处理结果", "满意度"]
RULE_NAMES = {"min_chars": "回复太短", "ending": "结尾语气词", "vague": "含糊回答", "banned_word": "不文明用语"}


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "未响应"
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}秒"
    if s < 3600:
        return f"{s // 60}分{s % 60}秒" if s % 60 else f"{s // 60}分"
    return f"{s // 3600}小时{(s % 3600) // 60}分"


def _bounds(config: Config, first: dt.date, last: dt.date) -> tuple[float, float]:
    tz = schedule_of(config).tz
    start = dt.datetime.combine(first, dt.time(0), tzinfo=tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    return start.timestamp(), end.timestamp()


async def _conversations(store: Store, config: Config, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    """Conversations opened in [first, last] with what the reports need to know of each."""
    start, end = _bounds(config, first, last)
    convs = await store.conversations_between(start, end)
    firsts = await store.first_questions([c.id for c in convs])
    out = []
    for c in convs:
        asked_at, _ = firsts.get(c.id, (None, ""))
        response = c.first_reply_at - asked_at if c.first_reply_at and asked_at else None
        out.append({"conv": c, "asked_at": asked_at, "response": response})
    return out


async def record_rows(store: Store, config: Config, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    tz = schedule_of(config).tz
    labels = {a.name: a.channel_label for a in config.accounts}
    rows = []
    for item in await _conversations(store, config, first, last):
        c = item["conv"]
        if item["asked_at"] is None:
            continue  # a follow with no question is not a consultation
        said = " / ".join(await store.customer_texts(c, limit=3))
        cats = [category_label(config, x) for x in c.category.split(",") if x]
        result = "已结束" if c.status == "closed" else ("处理中" if c.agent else "等待接入")
        rows.append(
            {
                "日期": dt.datetime.fromtimestamp(c.created_at, tz).strftime("%Y-%m-%d"),
                "工单号": f"#{c.ticket}",
                "客户": c.customer_name,
                "渠道": labels.get(c.account, c.account),
                "类别": "、".join(cats) or "咨询",
                "咨询内容摘要": said if len(said) <= 80 else said[:79] + "…",
                "受理客服": c.agent or "-",
                "首次响应时长": duration_text(item["response"]),
                "处理结果": result,
                "满意度": c.rating_text or "未评价",
            }
        )
    return rows


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    # UTF-8 with a BOM, so Excel opens the Chinese correctly
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)


def write_xlsx(rows: list[dict[str, Any]], path: Path, title: str = "在线客服受理记录表") -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    ws.append(COLUMNS)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([row[c] for c in COLUMNS])
    widths = {
        "日期": 12,
        "工单号": 9,
        "客户": 12,
        "渠道": 10,
        "类别": 10,
        "咨询内容摘要": 48,
        "受理客服": 10,
        "首次响应时长": 12,
        "处理结果": 10,
        "满意度": 8,
    }
    for i, col in enumerate(COLUMNS, start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = widths[col]
    for row in ws.iter_rows(min_row=2):
        row[COLUMNS.index("咨询内容摘要")].alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A2"
    wb.save(path)


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


async def daily_summary(store: Store, config: Config, day: dt.date, now: float) -> str:
    items = [i for i in await _conversations(store, config, day, day) if i["asked_at"] is not None]
    limit = config.sla.first_response
    responses = [i["response"] for i in items if i["response"] is not None]
    breaches = sum(
        1
        for i in items
        if (i["response"] is not None and i["response"] > limit)
        or (i["response"] is None and now - i["asked_at"] > limit)
    )
    closed = sum(1 for i in items if i["conv"].status == "closed")
    lines = [f"📊 在线客服日报 {day:%Y-%m-%d}", f"会话: {len(items)} (已结束 {closed}, 未结束 {len(items) - closed})"]
    if responses:
        lines.append(
            f"首次响应: 中位数 {duration_text(statistics.median(responses))}, P90 {duration_text(_p90(responses))}"
            f" (已响应 {len(responses)}/{len(items)})"
        )
    else:
        lines.append("首次响应: 无")
    lines.append(f"超时 (首次响应超过 {duration_text(limit)}): {breaches}")
    start, end = _bounds(config, day, day)
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
                    [f"知识库 {first} 至 {last}", *faq_lines(await store.faq_between(*_bounds(cfg, first, last)), 50)]
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
