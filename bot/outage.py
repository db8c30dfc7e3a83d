"""Outages of the servers kefu depends on (Redis, the database): one log line when one is found
unreachable, naming its address, and one when it answers again. Everything that waits for it
(every bus consumer, the timers, each webhook answering 503) reports here instead of logging on
its own, so an outage of a minute is two lines, not hundreds of warnings and tracebacks."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from loguru import logger

from bot.errors import outage_of

__all__ = ["Outages", "address_of"]

_NAMES = {"redis": "Redis", "storage": "the database"}


def address_of(url: str) -> str:
    """Where a server is, without credentials: host:port/db, or a SQLite file's path."""
    if url.startswith("sqlite"):
        return url.split(":///", 1)[-1] or url
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path}"


class Outages:
    # once a server answers again, connections opened before it went away fail one by one as
    # they are next used (a reset, a close): for this long such a failure is part of the outage
    settle = 5.0

    def __init__(self, where: dict[str, str] | None = None):
        self.where = where or {}  # "redis" / "storage" -> its address
        self._since: dict[str, float] = {}  # server -> when it was found down (monotonic)
        self._back: dict[str, float] = {}  # server -> when it was last found back

    def down(self, e: BaseException, server: str | None = None) -> str:
        """Note that a server is unreachable (logged once per outage); which one it was."""
        server = server or outage_of(e) or "storage"
        now = time.monotonic()
        if server not in self._since and now - self._back.get(server, -self.settle) < self.settle:
            logger.debug("{}: a connection left from the outage failed ({})", server, _short(e))
            return server
        if server not in self._since:
            self._since[server] = now
            logger.error(
                "{} at {} is unreachable ({}): webhooks answer 503 so the platforms retry, and the work "
                "in hand waits and resumes when it is back",
                _NAMES.get(server, server),
                self.where.get(server, "?"),
                _short(e),
            )
        return server

    def up(self, server: str) -> None:
        """The server answered again (logged once, by whoever sees it first)."""
        since = self._since.pop(server, None)
        if since is not None:
            self._back[server] = time.monotonic()
            logger.warning(
                "{} at {} is reachable again after {:.1f}s",
                _NAMES.get(server, server),
                self.where.get(server, "?"),
                time.monotonic() - since,
            )


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}"[:200] if text else type(e).__name__
