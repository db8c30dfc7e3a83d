"""Rendering a console page: the template with what every page shows (the user, the CSRF token,
one flash note), and the filters the templates use."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from console.host import ConsoleHost
from console.session import SESSION, take_flash

__all__ = ["render", "clock", "waited"]


def clock(runtime: ConsoleHost, ts: float | None) -> str:
    if not ts:
        return "-"
    from bot.records import timezone_of

    return dt.datetime.fromtimestamp(ts, timezone_of(runtime.config)).strftime("%Y-%m-%d %H:%M:%S")


def waited(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} 秒"
    if s < 3600:
        return f"{s // 60} 分 {s % 60} 秒"
    return f"{s // 3600} 小时 {s % 3600 // 60} 分"


async def render(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    """A page with what every page shows: the user, the CSRF token, one flash note."""
    session = request.get(SESSION)
    flash = await take_flash(request) if session else ""
    base = {"session": session, "csrf": session.csrf if session else "", "flash": flash, "path": request.path}
    return aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)
