"""Official QQ Bot API emulator: the app access token, the C2C and group send endpoints with the
passive-reply rules (a known msg_id to that recipient, inside its window, msg_seq never repeated,
at most 5 replies), and `QQBotPusher`, the platform's side of the webhook, signing with an Ed25519
key made from the secret as the platform makes it (with `cryptography`, not kefu's code).

The error codes are the emulator's own stand-ins except 22009 (rate limit), which the docs name, and
40054005 (msg_id + msg_seq already used), which the platform answers with "消息被去重，请检查请求msgseq"
(reported by users of qq-botpy: HKUDS/nanobot#1394 and #1499, AstrBotDevs/AstrBot#4382).
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.emulator import Emulator

__all__ = [
    "QQBotEmulator",
    "QQBotPusher",
    "TOKEN",
    "user_path",
    "group_path",
    "NO_MSG_ID",
    "WINDOW_CLOSED",
    "DUPLICATE_SEQ",
]

TOKEN = "/app/getAppAccessToken"
NO_MSG_ID = 40034101  # no msg_id: a proactive message, discontinued
BAD_MSG_ID = 40034102  # msg_id unknown or not from this recipient
WINDOW_CLOSED = 40034103  # the reply window of that message has passed
TOO_MANY = 40034104  # over 5 replies to one message
DUPLICATE_SEQ = 40054005  # msg_id + msg_seq already used
BAD_BODY = 40034105


def user_path(openid: str) -> str:
    return f"/v2/users/{openid}/messages"


def group_path(group_openid: str) -> str:
    return f"/v2/groups/{group_openid}/messages"


@dataclass
class Inbound:
    scope: str  # users or groups
    target: str  # the user's or the group's openid
    at: float
    seqs: set[int] = field(default_factory=set)


class QQBotEmulator(Emulator):
    name = "qqbot"
    windows = {"users": 3600.0, "groups": 300.0}

    def __init__(self, app_id: str, app_secret: str):
        super().__init__()
        self.app_id, self.app_secret = app_id, app_secret
        self.inbound: dict[str, Inbound] = {}  # msg ids the platform pushed, so replies can be checked
        self._ids = itertools.count(1)

    def setup(self, app: web.Application) -> None:
        app.router.add_post(TOKEN, self.token)
        app.router.add_post("/v2/users/{target}/messages", self.send)
        app.router.add_post("/v2/groups/{target}/messages", self.send)

    @property
    def token_url(self) -> str:
        return self.base_url + TOKEN

    @staticmethod
    def error(errcode: int, errmsg: str) -> web.Response:
        return web.json_response(
            {"code": errcode, "message": errmsg, "err_code": errcode, "trace_id": "emu"}, status=400
        )

    def texts_to(self, openid: str) -> list[str]:
        return [c.body["content"] for c in self.sent(user_path(openid))]

    def group_texts(self, group_openid: str) -> list[str]:
        return [c.body["content"] for c in self.sent(group_path(group_openid))]

    async def token(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        if (f := await self.fault(call)) is not None:
            return f
        body = call.body if isinstance(call.body, dict) else {}
        if body.get("appId") != self.app_id or body.get("clientSecret") != self.app_secret:
            return self.refuse(call, 100016, "invalid appid or secret")
        return web.json_response({"access_token": self.issue_token(), "expires_in": "7200"})

    async def send(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("QQBot ") or auth[6:] not in self.tokens:
            call.errcode = 401
            return web.json_response({"code": 11244, "message": "token not exist or expire"}, status=401)
        if (f := await self.fault(call)) is not None:
            return f
        body = call.body if isinstance(call.body, dict) else {}
        scope, target = request.path.split("/")[2], request.match_info["target"]
        if body.get("msg_type") != 0 or not str(body.get("content") or "").strip():
            return self.refuse(call, BAD_BODY, "msg_type 0 needs content")
        msg_id = str(body.get("msg_id") or "")
        if not msg_id:
            return self.refuse(call, NO_MSG_ID, "proactive messages are no longer supported")
        msg = self.inbound.get(msg_id)
        if msg is None or (msg.scope, msg.target) != (scope, target):
            return self.refuse(call, BAD_MSG_ID, "msg_id is not a message from this recipient")
        if time.time() - msg.at > self.windows[scope]:
            return self.refuse(call, WINDOW_CLOSED, "the reply window of msg_id has passed")
        seq = body.get("msg_seq", 1)
        if seq in msg.seqs:
            return self.refuse(call, DUPLICATE_SEQ, "消息被去重，请检查请求msgseq")
        if len(msg.seqs) >= 5:
            return self.refuse(call, TOO_MANY, "over 5 replies to this msg_id")
        msg.seqs.add(seq)
        return web.json_response({"id": f"ROBOT1.0_out{next(self._ids)}", "timestamp": int(time.time())})


def _platform_key(secret: str) -> Ed25519PrivateKey:
    """The platform's key: the secret repeated until it is 32 bytes long, as the seed."""
    seed = secret
    while len(seed) < 32:
        seed = seed * 2
    return Ed25519PrivateKey.from_private_bytes(seed[:32].encode())


@dataclass
class QQBotPusher:
    """The platform's side of the webhook: events signed over timestamp + body."""

    url: str  # kefu's webhook, e.g. http://127.0.0.1:8080/qq/qqbot
    app_id: str
    secret: str
    emulator: QQBotEmulator
    _n: int = 0

    def _event(self, t: str, d: dict[str, Any], scope: str, target: str, at: float | None) -> dict[str, Any]:
        self._n += 1
        when = time.time() if at is None else at
        d.setdefault("id", f"ROBOT1.0_in{self._n}_{int(when)}")
        d["timestamp"] = datetime.fromtimestamp(when, UTC).astimezone().isoformat(timespec="seconds")
        self.emulator.inbound[d["id"]] = Inbound(scope, target, when)
        return {"op": 0, "id": f"{t}:{self._n}", "d": d, "s": self._n, "t": t}

    def c2c(
        self, openid: str, text: str, *, msg_id: str = "", at: float | None = None, attachments: list | None = None
    ) -> dict[str, Any]:
        d: dict[str, Any] = {"author": {"user_openid": openid}, "content": text, "attachments": attachments or []}
        if msg_id:
            d["id"] = msg_id
        return self._event("C2C_MESSAGE_CREATE", d, "users", openid, at)

    def group(
        self, group_openid: str, member_openid: str, text: str, *, msg_id: str = "", at: float | None = None
    ) -> dict[str, Any]:
        d: dict[str, Any] = {
            "author": {"member_openid": member_openid},
            "content": f" {text}",  # what is left after the @ of the bot
            "group_openid": group_openid,
        }
        if msg_id:
            d["id"] = msg_id
        return self._event("GROUP_AT_MESSAGE_CREATE", d, "groups", group_openid, at)

    def headers(self, body: bytes, *, timestamp: int | None = None, secret: str | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sig = _platform_key(secret or self.secret).sign(ts.encode() + body).hex()
        return {
            "Content-Type": "application/json",
            "User-Agent": "QQBot-Callback",
            "X-Bot-Appid": self.app_id,
            "X-Signature-Ed25519": sig,
            "X-Signature-Timestamp": ts,
        }

    async def post(
        self,
        http: aiohttp.ClientSession,
        payload: dict[str, Any] | bytes,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        h = self.headers(body, timestamp=timestamp, secret=secret) if headers is None else headers
        async with http.post(self.url, data=body, headers=h) as r:
            return r.status, await r.text()

    async def validate(self, http: aiohttp.ClientSession, plain_token: str, event_ts: str) -> tuple[int, Any]:
        """The op 13 URL validation; kefu's answer (and whether its signature checks out is the test's to say)."""
        body = json.dumps({"op": 13, "d": {"plain_token": plain_token, "event_ts": event_ts}}).encode()
        async with http.post(self.url, data=body, headers=self.headers(body)) as r:
            text = await r.text()
            try:
                return r.status, json.loads(text)
            except ValueError:
                return r.status, text

    def public_key(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        return _platform_key(self.secret).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
