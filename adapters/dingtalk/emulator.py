"""DingTalk emulator: the v1.0 token and robot send APIs, session webhooks and custom robots
(checking their SEC signature), and `DingTalkPusher`, DingTalk's side of the robot callback,
signed with stdlib hmac as the platform documents."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from adapters.emulator import Call, Emulator

__all__ = ["DingTalkEmulator", "DingTalkPusher", "USER_SEND", "GROUP_SEND", "ROBOT_SEND", "SESSION"]

USER_SEND = "/v1.0/robot/oToMessages/batchSend"
GROUP_SEND = "/v1.0/robot/groupMessages/send"
ROBOT_SEND = "/robot/send"
SESSION = "/robot/sendBySession"


class DingTalkEmulator(Emulator):
    name = "dingtalk"

    def __init__(self, app_key: str, app_secret: str, robots: dict[str, str] | None = None):
        super().__init__()
        self.app_key, self.app_secret = app_key, app_secret
        self.robots = robots or {}  # custom robot access_token -> its SEC secret ("" for none)
        self.sessions: dict[str, str] = {}  # session id -> user it answers

    def setup(self, app: web.Application) -> None:
        app.router.add_post("/v1.0/oauth2/accessToken", self.access_token)
        app.router.add_post(USER_SEND, self.user_send)
        app.router.add_post(GROUP_SEND, self.group_send)
        app.router.add_post(ROBOT_SEND, self.robot_send)
        app.router.add_post(SESSION, self.session_send)

    # -- what tests read -------------------------------------------------------------

    def texts_to(self, user_id: str) -> list[str]:
        """What reached one user, by the OpenAPI or their session webhook, in order."""
        out = []
        for c in self.calls:
            if c.errcode:
                continue
            if c.path == USER_SEND and user_id in c.body.get("userIds", []):
                out.append(json.loads(c.body["msgParam"])["content"])
            elif c.path == SESSION and self.sessions.get(c.query.get("session", "")) == user_id:
                out.append(c.body["text"]["content"])
        return out

    def session_webhook(self, user_id: str) -> str:
        sid = f"s{len(self.sessions) + 1}"
        self.sessions[sid] = user_id
        return f"{self.base_url}{SESSION}?session={sid}"

    # -- the API ---------------------------------------------------------------------

    def _v1_error(self, call: Call, status: int, code: str, message: str) -> web.Response:
        call.errcode = status
        return web.json_response({"code": code, "message": message, "requestid": "emu"}, status=status)

    def _check(self, request: web.Request, call: Call) -> web.Response | None:
        if request.headers.get("x-acs-dingtalk-access-token", "") not in self.tokens:
            return self._v1_error(call, 401, "InvalidAuthentication", "不合法的access_token")
        return None

    async def access_token(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        if (f := await self.fault(call)) is not None:
            return f
        body = call.body or {}
        if body.get("appKey") != self.app_key or body.get("appSecret") != self.app_secret:
            return self._v1_error(call, 400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        return web.json_response({"accessToken": self.issue_token(), "expireIn": 7200})

    async def user_send(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        if (bad := self._check(request, call)) is not None:
            return bad
        if (f := await self.fault(call)) is not None:
            return f
        body = call.body or {}
        if body.get("robotCode") != self.app_key or body.get("msgKey") != "sampleText":
            return self._v1_error(call, 400, "invalidParameter", "robotCode or msgKey")
        return web.json_response(
            {"processQueryKey": f"pq{len(self.calls)}", "invalidStaffIdList": [], "flowControlledStaffIdList": []}
        )

    async def group_send(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        if (bad := self._check(request, call)) is not None:
            return bad
        if (f := await self.fault(call)) is not None:
            return f
        if not (call.body or {}).get("openConversationId"):
            return self._v1_error(call, 400, "invalidParameter", "openConversationId")
        return web.json_response({"processQueryKey": f"pq{len(self.calls)}"})

    async def session_send(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        if (f := await self.fault(call)) is not None:
            return f
        if request.query.get("session") not in self.sessions:
            return self.refuse(call, 300001, "session expired")
        return self.ok()

    async def robot_send(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        if (f := await self.fault(call)) is not None:
            return f
        token = request.query.get("access_token", "")
        if token not in self.robots:
            return self.refuse(call, 300001, "token is not exist")
        secret = self.robots[token]
        if secret:
            ts, given = request.query.get("timestamp", ""), request.query.get("sign", "")
            digest = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
            fresh = ts.isdigit() and abs(time.time() * 1000 - int(ts)) < 3600_000
            if not fresh or not hmac.compare_digest(base64.b64encode(digest).decode(), given):
                return self.refuse(call, 310000, "sign not match")
        return self.ok()

    def robot_texts(self, token: str) -> list[str]:
        return [c.body["text"]["content"] for c in self.sent(ROBOT_SEND) if c.query.get("access_token") == token]


@dataclass
class DingTalkPusher:
    """DingTalk's side of an enterprise robot's HTTP callback."""

    url: str  # kefu's webhook, e.g. http://127.0.0.1:8080/dingtalk/dd
    app_secret: str
    emulator: DingTalkEmulator
    robot_code: str
    staff_names: dict[str, str] = field(default_factory=dict)
    _n: int = 0

    def body(
        self, staff_id: str, text: str, *, group: str = "", msg_id: str = "", webhook_minutes: float = 90
    ) -> dict[str, Any]:
        self._n += 1
        now_ms = int(time.time() * 1000)
        return {
            "msgtype": "text",
            "text": {"content": f" {text}" if group else text},  # a group @ leaves a leading space
            "msgId": msg_id or f"msg{now_ms}{self._n}",
            "createAt": now_ms,
            "conversationType": "2" if group else "1",
            "conversationId": group or f"cid-1to1-{staff_id}",
            "conversationTitle": "客服组" if group else "",
            "senderId": f"$:LWCP_v1:${staff_id}",
            "senderNick": self.staff_names.get(staff_id, staff_id),
            "senderStaffId": staff_id,
            "senderCorpId": "ding-corp",
            "chatbotUserId": "$:LWCP_v1:$robot",
            "robotCode": self.robot_code,
            "isInAtList": True,
            "isAdmin": False,
            "sessionWebhook": self.emulator.session_webhook(staff_id),
            "sessionWebhookExpiredTime": now_ms + int(webhook_minutes * 60_000),
        }

    def headers(self, timestamp_ms: int | None = None, secret: str | None = None) -> dict[str, str]:
        ts = str(timestamp_ms or int(time.time() * 1000))
        key = (secret or self.app_secret).encode()
        sign = base64.b64encode(hmac.new(key, f"{ts}\n{secret or self.app_secret}".encode(), hashlib.sha256).digest())
        return {"timestamp": ts, "sign": sign.decode(), "Content-Type": "application/json"}

    async def post(self, http: aiohttp.ClientSession, body: dict[str, Any], **kw: Any) -> tuple[int, str]:
        async with http.post(
            self.url, data=json.dumps(body, ensure_ascii=False).encode(), headers=self.headers(**kw)
        ) as r:
            return r.status, await r.text()
