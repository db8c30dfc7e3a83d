"""The base of every platform emulator: an aiohttp app on 127.0.0.1 that serves a platform's
API in its documented wire format, records every call, and fails on demand.

Used by the tests and by ``kefu demo``; never by production code paths.
"""

from __future__ import annotations

import asyncio
import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["Emulator", "Call", "Fault"]


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any  # parsed JSON, or the form's field names, or raw bytes
    at: float = field(default_factory=time.time)
    errcode: int = 0  # what the emulator answered: 0 accepted, else the errcode or HTTP status
    duplicate: bool = False  # answered ok, but dropped by the platform's duplicate check
    late: float = 0.0  # the answer was held back this long after the call was carried out


CALL = web.RequestKey("call", Call)  # the call a request was recorded as


@dataclass
class Fault:
    errcode: int | None = None  # answer {"errcode": N}
    status: int | None = None  # answer this HTTP status
    delay: float = 0.0  # wait this long first (a timeout, if long enough)
    times: int = 1
    late: float = 0.0  # carry the call out, then hold the answer back this long (accepted, answer lost)


class Emulator(ABC):
    """Subclasses add routes in `setup(app)` and use `check_token`/`record`/`fault`."""

    name = "platform"

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.tokens: set[str] = set()
        self.faults: dict[str, list[Fault]] = {}
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._n = 0
        self._changed = asyncio.Event()

    # -- test controls -------------------------------------------------------------

    def fail(
        self,
        path: str,
        errcode: int | None = None,
        *,
        status: int | None = None,
        delay: float = 0.0,
        times: int = 1,
        late: float = 0.0,
    ) -> None:
        """The next `times` calls to `path` answer with this fault."""
        self.faults.setdefault(path, []).append(Fault(errcode, status, delay, times, late))

    def forget(self) -> None:
        """Drop the recorded calls (a test's set-up is done; what follows is what it checks)."""
        self.calls.clear()

    def expire_tokens(self) -> None:
        """Every token issued so far is now expired (the next API call gets 42001)."""
        self.tokens.clear()

    def sent(self, path: str, accepted: bool = True) -> list[Call]:
        """Calls to `path`; only those the platform accepted (and delivered) unless accepted=False."""
        return [c for c in self.calls if c.path == path and ((c.errcode == 0 and not c.duplicate) or not accepted)]

    async def wait_for(self, path: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until `path` has been called `count` times; the calls."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while len(self.sent(path, accepted=False)) < count:
            left = end - loop.time()
            if left <= 0:
                raise TimeoutError(
                    f"{self.name}: {path} called {len(self.sent(path, accepted=False))} times, expected {count}"
                )
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass
        return self.sent(path)

    # -- serving -------------------------------------------------------------------

    @abstractmethod
    def setup(self, app: web.Application) -> None:
        """Add the platform's routes."""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._runner is not None:
            return self.base_url  # already serving (a test may start it early to learn its URL)
        app = web.Application(middlewares=[_late_answers])
        self.setup(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        real_port = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{real_port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    # -- helpers for subclasses ----------------------------------------------------

    def issue_token(self) -> str:
        self._n += 1
        token = f"{self.name}-token-{self._n}"
        self.tokens.add(token)
        return token

    async def take(self, request: web.Request) -> tuple[Call, web.Response | None]:
        """Record an authenticated API call; the answer it gets instead (bad token, injected fault), if any."""
        call = await self.record(request)
        if (bad := self.check_token(request, call)) is not None:
            return call, bad
        return call, await self.fault(call)

    def check_token(self, request: web.Request, call: Call) -> web.Response | None:
        token = request.query.get("access_token", "")
        if not token:
            return self.refuse(call, 41001, "access_token missing")
        if token not in self.tokens:
            return self.refuse(call, 42001, "access_token expired")
        return None

    async def record(self, request: web.Request) -> Call:
        body: Any
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            body = {k: (getattr(v, "filename", None) or str(v)) for k, v in form.items()}
            body["_files"] = {k: v.file.read() for k, v in form.items() if hasattr(v, "file")}
        else:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
        call = Call(request.method, request.path, dict(request.query), body)
        request[CALL] = call
        self.calls.append(call)
        self._changed.set()
        return call

    async def fault(self, call: Call) -> web.Response | None:
        """The injected fault for this call, if one is due (and marks the call refused)."""
        queue = self.faults.get(call.path)
        if not queue:
            return None
        f = queue[0]
        f.times -= 1
        if f.times <= 0:
            queue.pop(0)
        if f.delay:
            await asyncio.sleep(f.delay)
        call.late = f.late
        if f.status:
            call.errcode = f.status
            return web.Response(status=f.status, text="emulated failure")
        if f.errcode is not None:
            return self.refuse(call, f.errcode, "emulated error")
        return None

    def refuse(self, call: Call, errcode: int, errmsg: str) -> web.Response:
        call.errcode = errcode
        return self.error(errcode, errmsg)

    @staticmethod
    def error(errcode: int, errmsg: str) -> web.Response:
        return web.json_response({"errcode": errcode, "errmsg": errmsg})

    @staticmethod
    def ok(**extra: Any) -> web.Response:
        return web.json_response({"errcode": 0, "errmsg": "ok", **extra})


@web.middleware
async def _late_answers(request: web.Request, handler: Any) -> web.StreamResponse:
    """A call carried out whose answer is held back (`fail(..., late=s)`): the caller times out."""
    response = await handler(request)
    call = request.get(CALL)
    if call is not None and call.late:
        await asyncio.sleep(call.late)
    return response
