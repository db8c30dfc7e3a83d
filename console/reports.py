"""Reports over a date range: volume per hour and per day, first-response percentiles per day,
the share answered within the limit per agent, satisfaction per day, an hour-by-weekday heat map;
and the record sheet (在线客服受理记录表) to download as XLSX or CSV."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.records import consultations, csv_bytes, p90, record_rows, timezone_of, xlsx_bytes
from console import charts
from console.host import ConsoleHost, host_of
from console.pages import render
from console.session import audit

__all__ = ["figures", "routes"]

WEEKDAYS = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]
MAX_DAYS = 366


def _range(rt: ConsoleHost, query: Any) -> tuple[dt.date, dt.date, str]:
    """(first, last, problem) from ?from=&to=; the last 7 days by default."""
    today = dt.datetime.fromtimestamp(rt.clock.now(), timezone_of(rt.config)).date()
    try:
        last = dt.date.fromisoformat(query.get("to") or today.isoformat())
        first = dt.date.fromisoformat(query.get("from") or (last - dt.timedelta(days=6)).isoformat())
    except ValueError:
        return today - dt.timedelta(days=6), today, "日期格式应为 2026-11-01"
    if first > last:
        return last, last, "开始日期晚于结束日期"
    if (last - first).days >= MAX_DAYS:
        return last - dt.timedelta(days=MAX_DAYS - 1), last, f"最多 {MAX_DAYS} 天"
    return first, last, ""


async def figures(rt: ConsoleHost, first: dt.date, last: dt.date) -> dict[str, Any]:
    cfg, tz = rt.config, timezone_of(rt.config)
    limit = cfg.sla.first_response
    items = [i for i in await consultations(rt.store, cfg, first, last) if i["asked_at"] is not None]
    days = [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]
    per_day: dict[dt.date, list[dict[str, Any]]] = defaultdict(list)
    per_hour = [0] * 24
    grid = [[0] * 24 for _ in range(7)]
    answered: dict[str, list[float]] = defaultdict(list)
    for i in items:
        local = dt.datetime.fromtimestamp(i["asked_at"], tz)
        per_day[local.date()].append(i)
        per_hour[local.hour] += 1
        grid[local.weekday()][local.hour] += 1
        if i["conv"].agent and i["response"] is not None:
            answered[i["conv"].agent].append(i["response"])
    labels = [d.strftime("%m-%d") for d in days]

    def pct(day: dt.date, p: str) -> float | None:
        rs = [i["response"] for i in per_day[day] if i["response"] is not None]
        if not rs:
            return None
        return round(statistics.median(rs) if p == "p50" else p90(rs), 1)

    def rating(day: dt.date) -> float | None:
        rs = [i["conv"].rating for i in per_day[day] if i["conv"].rating]
        return round(statistics.mean(rs), 2) if rs else None

    agents = sorted(answered)
    within = [100 * sum(r <= limit for r in answered[a]) / len(answered[a]) for a in agents]
    rated = [i["conv"].rating for i in items if i["conv"].rating]
    return {
        "total": len(items),
        "rated": len(rated),
        "hourly": charts.bars("每小时会话量 (按客户首条消息的时刻)", [f"{h}" for h in range(24)], per_hour, every=3),
        "daily": charts.bars("每日会话量", labels, [len(per_day[d]) for d in days], every=max(1, len(days) // 10)),
        "response": charts.lines(
            "首次响应时长 (秒)", labels, {"P50": [pct(d, "p50") for d in days], "P90": [pct(d, "p90") for d in days]}
        ),
        "within": charts.bars(f"各客服 {int(limit)} 秒内首次响应占比 (%)", agents, [round(w, 1) for w in within]),
        "satisfaction": charts.lines("平均满意度 (1-5 分)", labels, {"平均分": [rating(d) for d in days]}),
        "heat": charts.heat("会话热力图 (星期 × 小时)", grid, WEEKDAYS),
    }


async def page(request: web.Request) -> web.StreamResponse:
    rt = host_of(request)
    first, last, problem = _range(rt, request.query)
    return await render(
        request,
        "reports.html",
        {"title": "报表", "first": first, "last": last, "error": problem, "f": await figures(rt, first, last)},
    )


async def sheet(request: web.Request) -> web.StreamResponse:
    rt = host_of(request)
    first, last, problem = _range(rt, request.query)
    if problem:
        raise web.HTTPBadRequest(text=f"{problem}\n")
    fmt = request.match_info["format"]
    rows = await record_rows(rt.store, rt.config, first, last)
    body = xlsx_bytes(rows) if fmt == "xlsx" else csv_bytes(rows)
    name = f"在线客服受理记录表_{first}_{last}.{fmt}"
    await audit(request, "download", f"{name} ({len(rows)} rows)")
    kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if fmt == "xlsx" else "text/csv"
    return web.Response(
        body=body,
        headers={
            "Content-Type": kind + ("; charset=utf-8" if fmt == "csv" else ""),
            "Content-Disposition": f"attachment; filename=\"record.{fmt}\"; filename*=UTF-8''{quote(name)}",
        },
    )


def routes(app: web.Application) -> None:
    app.router.add_get("/reports", page, name="reports")
    app.router.add_get(r"/reports/sheet.{format:xlsx|csv}", sheet, name="sheet")
