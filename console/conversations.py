"""Finding a conversation (ticket, customer, channel, agent, category, status, dates, text) and
reading its transcript both ways: each delivery's result, the quality findings, the rating."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from aiohttp import web

from bot.model import TICKET_BASE, Conversation
from bot.records import RULE_NAMES, bounds, category_label
from bot.store.conversations import conversation_of
from console.host import ConsoleHost, host_of
from console.pages import render

__all__ = ["search", "routes", "FILTERS"]

FILTERS = ("ticket", "customer", "channel", "agent", "category", "status", "date_from", "date_to", "text")
_COLUMNS = (
    "id, account, customer, customer_name, status, created_at, last_message_at, agent, queued_at, waiting_since, "
    "first_reply_at, last_agent_at, told_position, auto_replied_at, category, survey_sent_at, rating, rating_text, "
    "unreachable, opened_by"
)
LIMIT = 200
STATUS = {"open": "进行中", "waiting": "等待接入", "closed": "已结束"}
DIRECTION = {"in": "收到", "out": "发出"}
DELIVERY = {
    "received": "已收到",
    "handled": "已处理",
    "pending": "待发送",
    "sending": "发送中",
    "sent": "已送达",
    "failed": "发送失败",
    "refused": "被平台拒绝",
    "held": "已保留,客户来信后补发",
    "retry": "等待重发",
}
PURPOSE = {
    "": "",
    "greeting": "欢迎语",
    "relay": "转给客服",
    "reply": "客服回复",
    "notice": "通知",
    "auto": "自动回复",
    "survey": "满意度邀请",
    "closed": "结束语",
    "rating": "评价",
    "receipt": "回执",
}


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def search(rt: ConsoleHost, q: dict[str, str]) -> list[Conversation]:
    """Conversations matching every filter given, newest first (at most LIMIT)."""
    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if ticket := q.get("ticket", "").strip().lstrip("#＃"):
        where.append(f"id = {arg(int(ticket) - TICKET_BASE if ticket.isdigit() else -1)}")
    if customer := q.get("customer", "").strip():
        where.append(f"(customer_name LIKE {arg(_like(customer))} ESCAPE '\\' OR customer = {arg(customer)})")
    if channel := q.get("channel", ""):
        where.append(f"account = {arg(channel)}")
    if agent := q.get("agent", ""):
        where.append(f"agent = {arg(agent)}")
    if category := q.get("category", ""):
        where.append(f"(',' || category || ',') LIKE {arg(_like(',' + category + ','))} ESCAPE '\\'")
    status = q.get("status", "")
    if status == "waiting":
        where.append("status = 'open' AND agent = ''")
    elif status in ("open", "closed"):
        where.append(f"status = {arg(status)}")
    first, last = _date(q.get("date_from", "")), _date(q.get("date_to", ""))
    if first or last:
        start, end = bounds(rt.config, first or dt.date(2000, 1, 1), last or dt.date(2100, 1, 1))
        where.append(f"created_at >= {arg(start)} AND created_at < {arg(end)}")
    if text := q.get("text", "").strip():
        where.append(
            "id IN (SELECT conversation_id FROM messages WHERE conversation_id IS NOT NULL "
            f"AND text LIKE {arg(_like(text))} ESCAPE '\\')"
        )
    sql = f"SELECT {_COLUMNS} FROM conversations"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = await rt.store.query(f"{sql} ORDER BY id DESC LIMIT {LIMIT}", *args)
    return [conversation_of(r) for r in rows]


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _row(rt: ConsoleHost, c: Conversation) -> dict[str, Any]:
    status = "waiting" if c.status == "open" and not c.agent else c.status
    return {
        "conv": c,
        "channel": rt.config.account(c.account).channel_label if c.account in rt.adapters else c.account,
        "status": STATUS.get(status, status),
        "categories": "、".join(category_label(rt.config, x) for x in c.category.split(",") if x) or "咨询",
    }


async def page(request: web.Request) -> web.StreamResponse:
    rt = host_of(request)
    q = {k: request.query.get(k, "") for k in FILTERS}
    bad = q["ticket"].strip().lstrip("#＃") and not q["ticket"].strip().lstrip("#＃").isdigit()
    found = await search(rt, q)
    cats = sorted({r.category for r in rt.config.routing} | {"complaint", "suggestion", "lead"})
    return await render(
        request,
        "conversations.html",
        {
            "title": "会话查询",
            "q": q,
            "rows": [_row(rt, c) for c in found],
            "limit": LIMIT,
            "error": "工单号应为数字,例如 1024" if bad else "",
            "channels": [(a.name, a.channel_label) for a in rt.config.accounts if a.role == "customer"],
            "agents": [a.name for a in rt.config.agents],
            "categories": [(c, category_label(rt.config, c)) for c in cats],
            "statuses": STATUS,
        },
    )


async def transcript(request: web.Request) -> web.StreamResponse:
    rt = host_of(request)
    ticket = int(request.match_info["ticket"])
    conv = await rt.store.by_ticket(ticket)
    if conv is None:
        raise web.HTTPNotFound(text=f"没有工单 #{ticket}\n")
    rows = []
    for m in await rt.store.transcript(conv.id, limit=5000):
        data = json.loads(m["data"] or "{}")
        rows.append(
            {
                "m": m,
                "direction": DIRECTION.get(m["direction"], m["direction"]),
                "side": "customer" if m["account"] == conv.account else "desk",
                "channel": rt.config.account(m["account"]).channel_label if m["account"] in rt.adapters else "",
                "purpose": PURPOSE.get(m["purpose"], m["purpose"]),
                "result": DELIVERY.get(m["status"], m["status"]),
                "bad": m["status"] in ("failed", "refused"),
                "console": data.get("console", ""),
                "who": m["party_name"] or (conv.customer_name if m["party"] == conv.customer else "") or m["party"],
            }
        )
    findings = await rt.store.query("SELECT * FROM findings WHERE conversation_id = $1 ORDER BY id", conv.id)
    online = await rt.store.online()
    return await render(
        request,
        "transcript.html",
        {
            "title": f"工单 #{conv.ticket}",
            "c": _row(rt, conv),
            "rows": rows,
            "findings": findings,
            "rule_names": RULE_NAMES,
            "agents": [(a.name, a.name in online) for a in rt.config.agents if a.name != conv.agent],
        },
    )


def routes(app: web.Application) -> None:
    app.router.add_get("/conversations", page, name="conversations")
    app.router.add_get(r"/conversations/{ticket:\d{1,9}}", transcript, name="transcript")
