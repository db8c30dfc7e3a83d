"""DingTalk emulator: the v1.0 token and robot send APIs, session webhooks and custom robots
(checking their SEC signature), and `DingTalkPusher`, DingTalk's side of the robot callback,
signed with stdlib hmac as the platform documents; `DingTalkStreamGateway`, Stream mode's
connection endpoint and WebSocket, in the frame format of dingtalk-stream."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from adapters.emulator import Call, Emulator

__all__ = [
    "DingTalkEmulator",
    "DingTalkPusher",
    "DingTalkStreamGateway",
    "USER_SEND",
    "GROUP_SEND",
    "ROBOT_SEND",
    "SESSION",
    "STREAM_OPEN",
    "STREAM_CONNECT",
    "STREAM_ACK",
]

USER_SEND = "/v1.0/robot/oToMessages/batchSend"
GROUP_SEND = "/v1.0/robot/groupMessages/send"
ROBOT_SEND = "/robot/send"
SESSION = "/robot/sendBySession"
STREAM_OPEN = "/v1.0/gateway/connections/open"
STREAM_CONNECT = "/connect"  # the WebSocket endpoint handed out with a ticket
STREAM_ACK = "ack"  # recorded for every ack frame kefu sends back
BOT_TOPIC = "/v1.0/im/bot/messages/get"


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
        self,
        staff_id: str,
        text: str,
        *,
        group: str = "",
        msg_id: str = "",
        webhook_minutes: float = 90,
        msgtype: str = "text",
        content: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A robot message; other than text, `msgtype` with its `content` (picture, richText, audio, file)."""
        self._n += 1
        now_ms = int(time.time() * 1000)
        if msgtype == "text":
            typed: dict[str, Any] = {"text": {"content": f" {text}" if group else text}}  # a group @ leaves a space
        else:
            typed = {"content": content or {}}
        return {
            "msgtype": msgtype,
            **typed,
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

    def rich_text(self, staff_id: str, *parts: str, group: str = "") -> dict[str, Any]:
        """A richText message (text with pasted pictures): a part "pic:CODE" is a picture, any other is text."""
        items: list[dict[str, Any]] = []
        for part in parts:
            if part.startswith("pic:"):
                code = part[4:]
                items.append({"pictureDownloadCode": f"p-{code}", "downloadCode": code, "type": "picture"})
            else:
                items.append({"text": part})
        return self.body(staff_id, "", group=group, msgtype="richText", content={"richText": items})

    async def post(self, http: aiohttp.ClientSession, body: dict[str, Any], **kw: Any) -> tuple[int, str]:
        async with http.post(
            self.url, data=json.dumps(body, ensure_ascii=False).encode(), headers=self.headers(**kw)
        ) as r:
            return r.status, await r.text()


class DingTalkStreamGateway(Emulator):
    """Stream mode's side of DingTalk: hands out a ticket, accepts the WebSocket, pushes frames and
    records the acks (as calls to STREAM_ACK, their body the ack frame)."""

    name = "dingtalk_stream"

    def __init__(self, app_key: str, app_secret: str):
        super().__init__()
        self.app_key, self.app_secret = app_key, app_secret
        self.sockets: list[web.WebSocketResponse] = []
        self.acks: list[dict[str, Any]] = []

    def setup(self, app: web.Application) -> None:
        app.router.add_post(STREAM_OPEN, self.open)
        app.router.add_get(STREAM_CONNECT, self.connect)

    async def stop(self) -> None:
        await self.drop()
        await super().stop()

    # -- the gateway -----------------------------------------------------------------

    async def open(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        if (f := await self.fault(call)) is not None:
            return f
        body = call.body if isinstance(call.body, dict) else {}
        if body.get("clientId") != self.app_key or body.get("clientSecret") != self.app_secret:
            call.errcode = 401
            return web.json_response({"code": "InvalidAuthentication", "message": "clientId or secret"}, status=401)
        topics = {(t.get("type"), t.get("topic")) for t in body.get("subscriptions") or [] if isinstance(t, dict)}
        if ("CALLBACK", BOT_TOPIC) not in topics:
            call.errcode = 400
            return web.json_response({"code": "invalidParameter", "message": "subscriptions"}, status=400)
        return web.json_response(
            {"endpoint": self.base_url.replace("http", "ws", 1) + STREAM_CONNECT, "ticket": self.issue_token()}
        )

    async def connect(self, request: web.Request) -> web.StreamResponse:
        call = Call(request.method, request.path, dict(request.query), None)
        if request.query.get("ticket") not in self.tokens:
            call.errcode = 403
            self._note(call)
            return web.Response(status=403, text="invalid ticket")
        self.tokens.discard(request.query["ticket"])  # a ticket opens one connection
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        self._note(call)  # recorded once frames can be pushed on it
        try:
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    ack = json.loads(frame.data)
                    self.acks.append(ack)
                    self._note(
                        Call("WS", STREAM_ACK, {}, ack, errcode=0 if ack.get("code") == 200 else ack.get("code", -1))
                    )
        finally:
            if ws in self.sockets:
                self.sockets.remove(ws)
        return ws

    def _note(self, call: Call) -> None:
        self.calls.append(call)
        self._changed.set()

    # -- test controls ----------------------------------------------------------------

    @staticmethod
    def callback_frame(payload: dict[str, Any], message_id: str = "", topic: str = BOT_TOPIC) -> dict[str, Any]:
        """A CALLBACK frame as DingTalk pushes it: `data` is the payload as a JSON string."""
        return {
            "specVersion": "1.0",
            "type": "CALLBACK",
            "headers": {
                "appId": "emu-app",
                "connectionId": "emu-conn",
                "contentType": "application/json",
                "messageId": message_id or uuid.uuid4().hex,
                "time": str(int(time.time() * 1000)),
                "topic": topic,
            },
            "data": json.dumps(payload, ensure_ascii=False),
        }

    async def push(self, frame: dict[str, Any]) -> None:
        """Send a frame on the open connection."""
        if not self.sockets:
            raise RuntimeError("no stream connection is open")
        await self.sockets[-1].send_str(json.dumps(frame, ensure_ascii=False))

    async def push_callback(self, payload: dict[str, Any], message_id: str = "") -> str:
        """Push a robot message; its frame's messageId (which the ack must carry)."""
        frame = self.callback_frame(payload, message_id)
        await self.push(frame)
        return str(frame["headers"]["messageId"])

    async def ack_for(self, message_id: str, nth: int = 1, timeout: float = 5.0) -> dict[str, Any]:
        """The `nth` ack kefu sent for a frame's messageId (a redelivered frame gets another), waiting for it."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            found = [a for a in self.acks if a.get("headers", {}).get("messageId") == message_id]
            if len(found) >= nth:
                return found[nth - 1]
            if loop.time() >= end:
                raise TimeoutError(f"{len(found)} ack(s) for frame {message_id}, expected {nth}")
            await self.wait_for(STREAM_ACK, len(self.sent(STREAM_ACK, accepted=False)) + 1, end - loop.time())

    async def drop(self) -> None:
        """Close every open connection from the gateway's side."""
        for ws in list(self.sockets):
            await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"gateway restart")
