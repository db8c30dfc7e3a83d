"""The supervisor's web console at /console/: the desk live, conversations and their transcripts,
reports and the set-up. It reads storage and state, and acts through the same commands agents
type in their IM (console.actions); it never imports the desk's rules (handlers)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

__all__ = ["mount"]


def mount(app: web.Application, runtime: Any) -> None:
    """Entry point kefu.web: serve the console when the config has a `console:` section."""
    if runtime.config.console is None:
        return
    from console.site import build

    app.router.add_get("/console", _slash)
    app.add_subapp("/console/", build(runtime))


async def _slash(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/")
