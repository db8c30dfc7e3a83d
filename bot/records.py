"""The record sheet (在线客服受理记录表): one row per consultation opened in a period, as CSV or
XLSX, and the per-conversation facts the reports are built from. Read by `kefu report`, the daily
summary (handlers.reports) and the console alike."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.store import Store

__all__ = [
    "COLUMNS",
    "LABELS",
    "RULE_NAMES",
    "category_label",
    "duration_text",
    "p90",
    "timezone_of",
    "bounds",
    "consultations",
    "breached",
    "record_rows",
    "write_csv",
    "write_xlsx",
    "csv_bytes",
    "xlsx_bytes",
]

COLUMNS = ["日期", "工单号", "客户", "渠道", "类别", "咨询内容摘要", "受理客服", "首次响应时长", "处理结果", "满意度"]
RULE_NAMES = {"min_chars": "回复太短", "ending": "结尾语气词", "vague": "含糊回答", "banned_word": "不文明用语"}
LABELS = {"complaint": "投诉", "suggestion": "建议", "lead": "商机", "inquiry": "咨询"}
_WIDTHS = [12, 9, 12, 10, 10, 48, 10, 12, 10, 8]
TITLE = "在线客服受理记录表"


def category_label(config: Config, category: str) -> str:
    for rule in config.routing:
        if rule.category == category and rule.label:
            return rule.label
    return LABELS.get(category, category)


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "未响应"
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}秒"
    if s < 3600:
        return f"{s // 60}分{s % 60}秒" if s % 60 else f"{s // 60}分"
    return f"{s // 3600}小时{(s % 3600) // 60}分"


def p90(values: list[float]) -> float:
    """The 90th percentile (nearest rank) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def timezone_of(config: Config) -> ZoneInfo:
    return ZoneInfo(config.schedule.timezone)


def bounds(config: Config, first: dt.date, last: dt.date) -> tuple[float, float]:
    """[start of `first`, end of `last`) in the desk's time zone, as timestamps."""
    tz = timezone_of(config)
    start = dt.datetime.combine(first, dt.time(0), tzinfo=tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    return start.timestamp(), end.timestamp()


async def consultations(store: Store, config: Config, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    """Conversations opened in [first, last]: each with `conv`, `asked_at` (the customer's first
    message, None for a follow with no question) and `response` (seconds to the first answer)."""
    start, end = bounds(config, first, last)
    convs = await store.conversations_between(start, end)
    firsts = await store.first_questions([c.id for c in convs])
    out = []
    for c in convs:
        asked_at, _ = firsts.get(c.id, (None, ""))
        response = c.first_reply_at - asked_at if c.first_reply_at and asked_at else None
        out.append({"conv": c, "asked_at": asked_at, "response": response})
    return out


def breached(item: dict[str, Any], limit: float, now: float) -> bool:
    """A consultation answered later than `limit`, or still unanswered past it."""
    if item["response"] is not None:
        return bool(item["response"] > limit)
    return item["asked_at"] is not None and now - item["asked_at"] > limit


async def record_rows(store: Store, config: Config, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    tz = timezone_of(config)
    labels = {a.name: a.channel_label for a in config.accounts}
    rows = []
    for item in await consultations(store, config, first, last):
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


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    """UTF-8 with a BOM, so Excel opens the Chinese correctly."""
    out = io.StringIO(newline="")
    w = csv.DictWriter(out, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def xlsx_bytes(rows: list[dict[str, Any]], title: str = TITLE) -> bytes:
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
    for i, width in enumerate(_WIDTHS, start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = width
    for row in ws.iter_rows(min_row=2):
        row[COLUMNS.index("咨询内容摘要")].alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    path.write_bytes(csv_bytes(rows))


def write_xlsx(rows: list[dict[str, Any]], path: Path, title: str = TITLE) -> None:
    path.write_bytes(xlsx_bytes(rows, title))
