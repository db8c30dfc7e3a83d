"""The console's aiohttp sub-application: its pages, templates, static files and guard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from console import actions, auth, conversations, desk, reports, setup
from console.host import HOST, ConsoleHost
from console.pages import clock, waited

__all__ = ["build"]

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
    env.filters["clock"] = lambda ts: clock(runtime, ts)
    env.filters["waited"] = waited
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
    if request.match_info.route.name == "static":  # the style sheet and script change only with kefu
        response.headers["Cache-Control"] = "max-age=3600"
    return response
