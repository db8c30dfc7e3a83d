"""When each account's platform last called its webhook, and what kefu answered: kept in state,
shared by every process, for the console's set-up view."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from loguru import logger

from bot.clock import Clock
from bot.errors import BusUnavailable
from bot.state import State

__all__ = ["Callbacks"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
KEEP = 30 * 86400.0  # a platform silent for a month is shown as never having called


class Callbacks:
    def __init__(self, state: State, clock: Clock):
        self.state = state
        self.clock = clock
        self._noted: dict[str, tuple[float, int]] = {}  # account -> (when, status) last written

    def watched(self, account: str, handler: Handler) -> Handler:
        """The webhook route, noting each call's answer."""

        async def watched(request: web.Request) -> web.StreamResponse:
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except BusUnavailable:
                status = 503
                raise
            except Exception as e:
                status = int(getattr(e, "status", 500))
                raise
            finally:
                await self.note(account, status)

        return watched

    async def note(self, account: str, status: int) -> None:
        """Written at most once a second per account and status: a busy webhook costs no more."""
        now = self.clock.now()
        last = self._noted.get(account)
        if last is not None and now - last[0] < 1.0 and last[1] == status:
            return
        self._noted[account] = (now, status)
        try:
            await self.state.set(f"callback:{account}", f"{now} {status}", ttl=KEEP)
        except Exception as e:  # a note for the console is never worth failing a callback
            logger.debug("{}: last callback not noted ({})", account, e)

    async def last(self, account: str) -> tuple[float, int] | None:
        """(when, the status answered) of the account's last callback; None if none is known."""
        value = await self.state.get(f"callback:{account}")
        if not value:
            return None
        when, status = value.split()
        return float(when), int(status)
