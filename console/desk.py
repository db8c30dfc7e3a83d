"""The desk live: waiting customers, conversations by agent, agents online, today's figures and
dead letters. The page polls /console/api/desk every second (desk.js) and redraws in place."""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Any

from aiohttp import web

from bot.records import breached, consultations, duration_text, p90, timezone_of
from console.host import ConsoleHost, host_of
from console.pages import render

__all__ = ["snapshot", "routes"]


async def snapshot(rt: ConsoleHost) -> dict[str, Any]:
    """Everything the desk view shows, as JSON-ready values."""
    cfg, store, now = rt.config, rt.store, rt.clock.now()
    limit = cfg.sla.first_response
    labels = {a.name: a.channel_label for a in cfg.accounts}
    tz = timezone_of(cfg)
    waiting = [
        {
            "ticket": c.ticket,
            "customer": c.customer_name or c.customer[-4:],
            "channel": labels.get(c.account, c.account),
            "place": i + 1,
            "waited": now - (c.queued_at or c.created_at),
        }
        for i, c in enumerate(await store.waiting())
    ]
    held: dict[str, list[dict[str, Any]]] = {}
    for c in await store.open_conversations():
        if not c.agent:
            continue
        unanswered = now - c.waiting_since if c.waiting_since is not None else None
        held.setdefault(c.agent, []).append(
            {
                "ticket": c.ticket,
                "customer": c.customer_name or c.customer[-4:],
                "channel": labels.get(c.account, c.account),
                "unanswered": unanswered,
                "late": unanswered is not None and unanswered > limit,
            }
        )
    online, load = await store.online(), await store.load()
    agents = [
        {
            "name": a.name,
            "online": a.name in online,
            "load": load.get(a.name, 0),
            "capacity": a.capacity,
            "conversations": held.pop(a.name, []),
        }
        for a in cfg.agents
    ]
    agents += [  # an agent no longer configured who still holds conversations
        {"name": name, "online": False, "load": len(convs), "capacity": 0, "conversations": convs}
        for name, convs in held.items()
    ]
    dead = [
        {
            "id": r["id"],
            "when": dt.datetime.fromtimestamp(r["updated_at"], tz).strftime("%m-%d %H:%M:%S"),
            "to": f"{r['account']}:{r['party_name'] or r['party']}",
            "text": r["text"][:60],
            "error": r["error"][:120],
        }
        for r in await store.dead_letters(20)
    ]
    return {
        "now": now,
        "limit": limit,
        "waiting": waiting,
        "agents": agents,
        "today": await today(rt, now),
        "dead": dead,
    }


async def today(rt: ConsoleHost, now: float) -> dict[str, Any]:
    """Today's figures, as the daily report counts them (consultations opened today)."""
    cfg = rt.config
    day = dt.datetime.fromtimestamp(now, timezone_of(cfg)).date()
    items = [i for i in await consultations(rt.store, cfg, day, day) if i["asked_at"] is not None]
    limit = cfg.sla.first_response
    responses = [i["response"] for i in items if i["response"] is not None]
    breaches = sum(breached(i, limit, now) for i in items)
    rated = [i["conv"].rating for i in items if i["conv"].rating]
    return {
        "conversations": len(items),
        "closed": sum(1 for i in items if i["conv"].status == "closed"),
        "p50": duration_text(statistics.median(responses)) if responses else "-",
        "p90": duration_text(p90(responses)) if responses else "-",
        "breaches": breaches,
        "rated": len(rated),
        "rating": f"{statistics.mean(rated):.1f}" if rated else "-",
    }


async def page(request: web.Request) -> web.StreamResponse:
    rt = host_of(request)
    return await render(request, "desk.html", {"desk": await snapshot(rt), "title": "实时看板"})


async def api(request: web.Request) -> web.StreamResponse:
    return web.json_response(await snapshot(host_of(request)), dumps=_dumps)


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def routes(app: web.Application) -> None:
    app.router.add_get("/", page, name="desk")
    app.router.add_get("/api/desk", api, name="api_desk")
