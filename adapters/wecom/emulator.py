"""WeCom emulator: the API kefu calls (gettoken, message/send, appchat, group robot, media),
and `WeComPusher`, the WeCom server's side of the app callback, encrypted with wechatpy's crypto.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import xmltodict
from aiohttp import web
from wechatpy.work.crypto import WeChatCrypto

from adapters.emulator import Emulator

__all__ = [
    "MEDIA_GET",
    "MEDIA_UPLOAD",
    "WeComEmulator",
    "WeComGettoken",
    "WeComPusher",
    "APP_SEND",
    "ROBOT_SEND",
    "APPCHAT_SEND",
]

APP_SEND = "/cgi-bin/message/send"
ROBOT_SEND = "/cgi-bin/webhook/send"
APPCHAT_SEND = "/cgi-bin/appchat/send"
MEDIA_GET = "/cgi-bin/media/get"
MEDIA_UPLOAD = "/cgi-bin/media/upload"


class WeComGettoken:
    """WeCom's token endpoint, for emulators with `corp_id` and `secret` (an app, 微信客服)."""

    corp_id: str
    secret: str
    record: Any
    fault: Any
    refuse: Any
    issue_token: Any

    async def gettoken(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        if (f := await self.fault(call)) is not None:
            return f
        if request.query.get("corpid") != self.corp_id:
            return self.refuse(call, 40013, "invalid corpid")
        if request.query.get("corpsecret") != self.secret:
            return self.refuse(call, 40001, "invalid credential")
        return web.json_response({"errcode": 0, "errmsg": "ok", "access_token": self.issue_token(), "expires_in": 7200})


class WeComEmulator(WeComGettoken, Emulator):
    name = "wecom"

    def __init__(
        self,
        corp_id: str,
        secret: str,
        agent_id: int,
        users: set[str] | None = None,
        robot_keys: set[str] | None = None,
        chats: set[str] | None = None,
    ):
        super().__init__()
        self.corp_id, self.secret, self.agent_id = corp_id, secret, agent_id
        self.users = users  # None: every user id exists
        self.robot_keys = robot_keys or set()
        self.chats = chats or set()
        self.media: dict[str, bytes] = {}
        self._msgid = 0
        self._sent_at: dict[tuple[Any, ...], tuple[float, str]] = {}  # for the duplicate check

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/cgi-bin/gettoken", self.gettoken)
        app.router.add_post(APP_SEND, self.message_send)
        app.router.add_post(APPCHAT_SEND, self.appchat_send)
        app.router.add_post(ROBOT_SEND, self.robot_send)
        app.router.add_post("/cgi-bin/media/upload", self.media_upload)
        app.router.add_get("/cgi-bin/media/get", self.media_get)

    def texts_to(self, user_id: str) -> list[str]:
        """Text contents the app sent to one user, in order."""
        return [
            c.body["text"]["content"]
            for c in self.sent(APP_SEND)
            if user_id in str(c.body.get("touser", "")).split("|") and c.body.get("msgtype") == "text"
        ]

    async def message_send(self, request: web.Request) -> web.Response:
        call, answer = await self.take(request)
        if answer is not None:
            return answer
        body: dict[str, Any] = call.body if isinstance(call.body, dict) else {}
        if body.get("agentid") != self.agent_id:
            return self.refuse(call, 40056, "invalid agentid")
        if not body.get("msgtype") or body["msgtype"] not in body:
            return self.refuse(call, 40008, "invalid message type")
        wanted = [u for u in str(body.get("touser", "")).split("|") if u]
        if not wanted:
            return self.refuse(call, 40031, "invalid user list")
        kind = body["msgtype"]
        if kind == "voice" and str((body[kind] or {}).get("media_id", "")) not in self.media:
            return self.refuse(call, 40007, "invalid media_id")
        bad_users = [u for u in wanted if self.users is not None and u not in self.users]
        # enable_duplicate_check: the same message from the same app to the same users within
        # duplicate_check_interval seconds (default 1800) is not sent again (message/send, 90236)
        same = (body["agentid"], body["touser"], body["msgtype"], json.dumps(body[body["msgtype"]], sort_keys=True))
        earlier = self._sent_at.get(same)
        interval = min(int(body.get("duplicate_check_interval") or 1800), 4 * 3600)
        if body.get("enable_duplicate_check") == 1 and earlier and time.time() - earlier[0] < interval:
            call.duplicate = True
            return self.ok(msgid=earlier[1])
        self._msgid += 1
        extra: dict[str, Any] = {"msgid": f"wecom-msg-{self._msgid}"}
        self._sent_at[same] = (time.time(), extra["msgid"])
        if bad_users:
            extra["invaliduser"] = "|".join(bad_users)
        return self.ok(**extra)

    async def appchat_send(self, request: web.Request) -> web.Response:
        call, answer = await self.take(request)
        if answer is not None:
            return answer
        if call.body.get("chatid") not in self.chats:
            return self.refuse(call, 86003, "chat not exists")
        return self.ok()

    async def robot_send(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        if (f := await self.fault(call)) is not None:
            return f
        if request.query.get("key") not in self.robot_keys:
            return self.refuse(call, 93000, "invalid webhook url")
        content = (call.body or {}).get("text", {}).get("content", "")
        if len(content.encode()) > 2048:
            return self.refuse(call, 40058, "content exceed max length")
        return self.ok()

    async def media_upload(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        if (bad := self.check_token(request, call)) is not None:
            return bad
        kind = request.query.get("type", "")
        data = next(iter(call.body.get("_files", {}).values()), b"")
        if kind not in ("image", "voice", "video", "file"):
            return self.refuse(call, 40004, "invalid media type")
        if kind == "voice" and not data.startswith(b"#!AMR\n"):  # voice: AMR only, at most 2 MB
            return self.refuse(call, 40005, "invalid file type")
        if kind == "voice" and len(data) > 2 * 1024 * 1024:
            return self.refuse(call, 40006, "invalid file size")
        media_id = f"wecom-media-{len(self.media) + 1}"
        self.media[media_id] = data
        return web.json_response(
            {
                "errcode": 0,
                "errmsg": "ok",
                "type": request.query.get("type", "image"),
                "media_id": media_id,
                "created_at": str(int(time.time())),
            }
        )

    async def media_get(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        if (bad := self.check_token(request, call)) is not None:
            return bad
        data = self.media.get(request.query.get("media_id", ""))
        if data is None:
            return self.refuse(call, 40007, "invalid media_id")
        return web.Response(
            body=data, content_type="image/png", headers={"Content-Disposition": 'attachment; filename="agent.png"'}
        )


@dataclass
class WeComPusher:
    """The WeCom server's side of a self-built app's callback."""

    url: str  # kefu's webhook, e.g. http://127.0.0.1:8080/wecom/desk
    token: str
    aes_key: str
    corp_id: str
    agent_id: int

    def text_xml(self, user_id: str, content: str, msg_id: int, create_time: int | None = None) -> str:
        ct = create_time or int(time.time())
        return (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<FromUserName><![CDATA[{user_id}]]></FromUserName><CreateTime>{ct}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
            f"<MsgId>{msg_id}</MsgId><AgentID>{self.agent_id}</AgentID></xml>"
        )

    def image_xml(self, user_id: str, media_id: str, msg_id: int) -> str:
        return (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<FromUserName><![CDATA[{user_id}]]></FromUserName><CreateTime>{int(time.time())}</CreateTime>"
            f"<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://127.0.0.1/x.png]]></PicUrl>"
            f"<MediaId><![CDATA[{media_id}]]></MediaId><MsgId>{msg_id}</MsgId>"
            f"<AgentID>{self.agent_id}</AgentID></xml>"
        )

    def signed(
        self, plain_xml: str, *, timestamp: str | None = None, nonce: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        ts = timestamp or str(int(time.time()))
        nonce = nonce or secrets.token_hex(5)
        enc = xmltodict.parse(
            WeChatCrypto(self.token, self.aes_key, self.corp_id).encrypt_message(plain_xml, nonce, ts)
        )["xml"]
        body = (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<AgentID><![CDATA[{self.agent_id}]]></AgentID><Encrypt><![CDATA[{enc['Encrypt']}]]></Encrypt></xml>"
        )
        return {"msg_signature": enc["MsgSignature"], "timestamp": ts, "nonce": nonce}, body.encode()

    async def post(self, http: aiohttp.ClientSession, plain_xml: str, **kw: Any) -> tuple[int, str]:
        query, body = self.signed(plain_xml, **kw)
        async with http.post(self.url, params=query, data=body, headers={"Content-Type": "text/xml"}) as r:
            return r.status, await r.text()

    async def verify(self, http: aiohttp.ClientSession, echo: str = "echo-wecom-1") -> tuple[int, str]:
        ts, nonce = str(int(time.time())), secrets.token_hex(5)
        enc = xmltodict.parse(WeChatCrypto(self.token, self.aes_key, self.corp_id).encrypt_message(echo, nonce, ts))[
            "xml"
        ]
        params = {"msg_signature": enc["MsgSignature"], "timestamp": ts, "nonce": nonce, "echostr": enc["Encrypt"]}
        async with http.get(self.url, params=params) as r:
            return r.status, await r.text()
