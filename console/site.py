"""The console's aiohttp sub-application: its pages, templates, static files and guard."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from console import actions, auth, conversations, desk, reports, setup
from console.auth import SESSION
from console.host import HOST, ConsoleHost

__all__ = ["build", "render"]

HERE = Path(__file__).parent
# the console's own pages only: no script, style or frame from anywhere else (it works offline too)
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def build(runtime: ConsoleHost) -> web.Application:
    app = web.Application(middlewares=[auth.guard, _headers])
    app[HOST] = runtime
    env = aiohttp_jinja2.setup(app, loader=jinja2.PackageLoader("console", "templates"), autoescape=True)
    env.filters["clock"] = lambda ts: _clock(runtime, ts)
    env.filters["waited"] = _waited
    auth.routes(app)
    desk.routes(app)
    conversations.routes(app)
    actions.routes(app)
    reports.routes(app)
    setup.routes(app)
    app.router.add_static("/static/", HERE / "static", name="static")
    return app


@web.middleware
async def _headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response = await handler(request)
    for k, v in _HEADERS.items():
        response.headers.setdefault(k, v)
    return response


def _clock(runtime: ConsoleHost, ts: float | None) -> str:
    if not ts:
        return "-"
    from bot.records import timezone_of

    return dt.datetime.fromtimestamp(ts, timezone_of(runtime.config)).strftime("%Y-%m-%d %H:%M:%S")


def _waited(seconds: float | None) -> str:
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
    flash = await auth.take_flash(request) if session else ""
    base = {"session": session, "csrf": session.csrf if session else "", "flash": flash, "path": request.path}
    return aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)
