"""A fake OneBot v11 implementation (what NapCat or Lagrange do for kefu): it POSTs events signed
with stdlib hmac, connects to kefu's reverse WebSocket with the three headers, pushes events over
it, answers action frames and records them, and serves the HTTP API (`/{action}`) for api_url.

Actions are recorded as calls to `/{action}` whichever way they came (method "WS" or "POST"), so
`sent("/send_group_msg")` and `wait_for(...)` read the same for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import time
from typing import Any

import aiohttp
from aiohttp import web

from adapters.emulator import Call, Emulator, Fault

__all__ = ["OneBotEmulator", "PRIVATE", "GROUP", "message_text"]

PRIVATE = "/send_private_msg"
GROUP = "/send_group_msg"
_SEND = {"send_private_msg", "send_group_msg", "send_msg"}


def message_text(message: Any) -> str:
    """The text of a message kefu sent: an array of segments or a CQ-code string."""
    if isinstance(message, list):
        return "".join(str(s.get("data", {}).get("text", "")) for s in message if s.get("type") == "text")
    text = str(message)
    for a, b in (("&#44;", ","), ("&#91;", "["), ("&#93;", "]"), ("&amp;", "&")):
        text = text.replace(a, b)
    return text


class OneBotEmulator(Emulator):
    name = "onebot"

    def __init__(self, self_id: int = 3_000_000_001, access_token: str = "", secret: str = ""):
        super().__init__()
        self.self_id, self.access_token, self.secret = self_id, access_token, secret
        self.sockets: list[aiohttp.ClientWebSocketResponse] = []
        self.answers: list[dict[str, Any]] = []  # every action answer sent back, in order
        self._ids = itertools.count(1_000_001)  # message ids: one space for everyone's messages
        self._readers: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def setup(self, app: web.Application) -> None:
        app.router.add_post("/{action}", self.http_action)

    # -- what tests read -------------------------------------------------------------

    def texts_to(self, user_id: int | str) -> list[str]:
        return [message_text(c.body["message"]) for c in self.sent(PRIVATE) if str(c.body["user_id"]) == str(user_id)]

    def group_texts(self, group_id: int | str) -> list[str]:
        return [message_text(c.body["message"]) for c in self.sent(GROUP) if str(c.body["group_id"]) == str(group_id)]

    def message_id_of(self, text_start: str, path: str = GROUP) -> int:
        """The message id the emulator gave the (last) message kefu sent that starts with `text_start`."""
        for c in reversed(self.sent(path)):
            if message_text(c.body["message"]).startswith(text_start):
                return int(c.query["message_id"])
        raise LookupError(f"nothing sent to {path} starts with {text_start!r}")

    # -- events, as the implementation reports them ---------------------------------

    def private(self, user_id: int, message: Any, *, nickname: str = "", message_id: int | None = None) -> dict:
        mid = message_id if message_id is not None else next(self._ids)
        return {
            "time": int(time.time()),
            "self_id": self.self_id,
            "post_type": "message",
            "message_type": "private",
            "sub_type": "friend",
            "message_id": mid,
            "user_id": user_id,
            "message": message,
            "raw_message": message if isinstance(message, str) else "",
            "font": 0,
            "sender": {"user_id": user_id, "nickname": nickname or f"QQ{user_id}", "sex": "unknown", "age": 0},
        }

    def group(
        self,
        group_id: int,
        user_id: int,
        message: Any,
        *,
        card: str = "",
        nickname: str = "",
        message_id: int | None = None,
    ) -> dict:
        event = self.private(user_id, message, nickname=nickname, message_id=message_id)
        event.update(message_type="group", sub_type="normal", group_id=group_id, anonymous=None)
        event["sender"].update(card=card, role="member")
        return event

    def heartbeat(self) -> dict:
        return {
            "time": int(time.time()),
            "self_id": self.self_id,
            "post_type": "meta_event",
            "meta_event_type": "heartbeat",
            "status": {"online": True, "good": True},
            "interval": 5000,
        }

    def signature(self, body: bytes, secret: str | None = None) -> str:
        key = (self.secret if secret is None else secret).encode()
        return "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest()

    async def post(
        self, http: aiohttp.ClientSession, url: str, event: dict | bytes, *, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """HTTP POST one event to kefu, signed when the emulator has a secret (or with `headers`)."""
        body = event if isinstance(event, bytes) else json.dumps(event, ensure_ascii=False).encode()
        h = {"Content-Type": "application/json", "X-Self-ID": str(self.self_id)}
        if self.secret:
            h["X-Signature"] = self.signature(body)
        h.update(headers or {})
        async with http.post(url, data=body, headers={k: v for k, v in h.items() if v is not None}) as r:
            return r.status, await r.text()

    # -- the reverse WebSocket ---------------------------------------------------------

    async def connect(
        self,
        url: str,
        *,
        role: str = "Universal",
        token: str | None = None,
        self_id: int | str | None = None,
        answer: bool = True,
    ) -> aiohttp.ClientWebSocketResponse:
        """Open the reverse WebSocket to kefu (url http(s)://.../qq/<name>/ws) and answer its actions."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        headers = {"X-Client-Role": role, "X-Self-ID": str(self.self_id if self_id is None else self_id)}
        token = self.access_token if token is None else token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        ws = await self._session.ws_connect(url, headers={k: v for k, v in headers.items() if v}, heartbeat=30)
        self.sockets.append(ws)
        if answer:
            task = asyncio.create_task(self._serve(ws))
            self._readers.add(task)
            task.add_done_callback(self._readers.discard)
        return ws

    async def push(self, event: dict, ws: aiohttp.ClientWebSocketResponse | None = None) -> None:
        """Send one event over the reverse WebSocket (the newest one unless told)."""
        await (ws or self.sockets[-1]).send_str(json.dumps(event, ensure_ascii=False))

    async def disconnect(self) -> None:
        for ws in self.sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        self.sockets.clear()
        for task in list(self._readers):
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)

    async def stop(self) -> None:
        await self.disconnect()
        if self._session is not None:
            await self._session.close()
            self._session = None
        await super().stop()

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            req = json.loads(frame.data)
            if "action" in req:  # each on its own, as implementations do: a slow one blocks no other
                task = asyncio.create_task(self._answer(ws, req))
                self._readers.add(task)
                task.add_done_callback(self._readers.discard)

    async def _answer(self, ws: aiohttp.ClientWebSocketResponse, req: dict[str, Any]) -> None:
        call = self._log("WS", req["action"], req.get("params") or {})
        answer = await self._perform(call)
        answer["echo"] = req.get("echo")
        self.answers.append(answer)
        if "_status" not in answer and not ws.closed:  # an HTTP status fault: no answer at all on a socket
            await ws.send_str(json.dumps(answer, ensure_ascii=False))

    # -- actions -----------------------------------------------------------------------

    def _log(self, method: str, action: str, params: Any) -> Call:
        call = Call(method, f"/{action}", {}, params)
        self.calls.append(call)
        self._changed.set()
        return call

    def _due_fault(self, path: str) -> Fault | None:
        queue = self.faults.get(path)
        if not queue:
            return None
        f = queue[0]
        f.times -= 1
        if f.times <= 0:
            queue.pop(0)
        return f

    async def _perform(self, call: Call) -> dict[str, Any]:
        """The answer frame for one action: {status, retcode, data} (no echo yet)."""
        f = self._due_fault(call.path)
        if f is not None:
            if f.delay:
                await asyncio.sleep(f.delay)
            if f.status:
                call.errcode = f.status
                return {"_status": f.status}
            if f.errcode is not None:
                call.errcode = f.errcode
                return {"status": "failed", "retcode": f.errcode, "data": None, "message": "emulated error"}
        answer = self._carry_out(call)
        if f is not None and f.late:  # carried out; the answer comes after the caller gave up
            call.late = f.late
            await asyncio.sleep(f.late)
        return answer

    def _carry_out(self, call: Call) -> dict[str, Any]:
        action, params = call.path[1:], call.body if isinstance(call.body, dict) else {}
        if action in _SEND:
            target = params.get("group_id") if action == "send_group_msg" else params.get("user_id")
            if not isinstance(target, int) or not params.get("message"):
                call.errcode = 1400
                return {"status": "failed", "retcode": 1400, "data": None, "message": "bad params"}
            mid = next(self._ids)
            call.query["message_id"] = str(mid)
            return {"status": "ok", "retcode": 0, "data": {"message_id": mid}}
        if action == "get_stranger_info":
            uid = params.get("user_id")
            return {"status": "ok", "retcode": 0, "data": {"user_id": uid, "nickname": f"QQ{uid}"}}
        call.errcode = 1404
        return {"status": "failed", "retcode": 1404, "data": None, "message": "no such action"}

    async def http_action(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            params = json.loads(raw) if raw else {}
        except ValueError:
            params = raw
        call = self._log("POST", request.match_info["action"], params)
        if self.access_token:
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            given = given or request.query.get("access_token", "")
            if not given:
                call.errcode = 401
                return web.Response(status=401, text="token missing")
            if given != self.access_token:
                call.errcode = 403
                return web.Response(status=403, text="token wrong")
        answer = await self._perform(call)
        if "_status" in answer:
            return web.Response(status=answer["_status"], text="emulated failure")
        self.answers.append(answer)
        return web.json_response(answer)
