"""WeChat Official Account emulator: the API kefu calls, and the server that pushes callbacks.

`WeChatEmulator` serves /cgi-bin/token, /cgi-bin/message/custom/send (refused with 45015 for a
customer whose reply window a test closed), template messages, subscription notices,
/cgi-bin/user/info and media on 127.0.0.1. `WeChatPusher` plays the WeChat server's side of the webhook: it signs
and (in safe mode) encrypts callbacks with wechatpy's own crypto, as the platform does.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import xmltodict
from aiohttp import web
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from adapters.emulator import Emulator

__all__ = [
    "MEDIA_GET",
    "MEDIA_UPLOAD",
    "WeChatEmulator",
    "WeChatPusher",
    "new_aes_key",
    "CS_SEND",
    "TEMPLATE_SEND",
    "SUBSCRIBE_SEND",
]

CS_SEND = "/cgi-bin/message/custom/send"
TEMPLATE_SEND = "/cgi-bin/message/template/send"
SUBSCRIBE_SEND = "/cgi-bin/message/subscribe/bizsend"
MEDIA_GET = "/cgi-bin/media/get"
MEDIA_UPLOAD = "/cgi-bin/media/upload"


def new_aes_key() -> str:
    """A valid EncodingAESKey: base64 of 32 random bytes, without the trailing '='."""
    import base64

    return base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")


class WeChatEmulator(Emulator):
    name = "wechat"

    def __init__(self, app_id: str, app_secret: str, nicknames: dict[str, str] | None = None):
        super().__init__()
        self.app_id = app_id
        self.app_secret = app_secret
        self.nicknames = nicknames or {}
        self.media: dict[str, bytes] = {}
        self.closed: set[str] = set()  # openids whose 48-hour reply window has closed
        self.templates: dict[str, set[str]] = {}  # the account's template ids -> their data keys
        self._msgid = 1_000_000

    def close_window(self, openid: str) -> None:
        """This customer last wrote over 48 hours ago: customer-service messages get 45015."""
        self.closed.add(openid)

    def open_window(self, openid: str) -> None:
        """This customer wrote: the reply window is open again."""
        self.closed.discard(openid)

    def add_template(self, template_id: str, *keys: str) -> None:
        """A template (or subscription template) the account has, with the data keys it fills."""
        self.templates[template_id] = set(keys)

    def notices_to(self, openid: str) -> list[dict[str, str]]:
        """Accepted template messages and subscription notices to one customer: key -> value."""
        return [
            {k: v["value"] for k, v in c.body["data"].items()}
            for c in self.calls
            if c.path in (TEMPLATE_SEND, SUBSCRIBE_SEND) and c.errcode == 0 and c.body.get("touser") == openid
        ]

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/cgi-bin/token", self.token)
        app.router.add_post(CS_SEND, self.cs_send)
        app.router.add_post(TEMPLATE_SEND, self.template_send)
        app.router.add_post(SUBSCRIBE_SEND, self.template_send)
        app.router.add_get("/cgi-bin/user/info", self.user_info)
        app.router.add_post("/cgi-bin/media/upload", self.media_upload)
        app.router.add_get("/cgi-bin/media/get", self.media_get)

    def texts_to(self, openid: str) -> list[str]:
        """Text contents sent to one customer, in order."""
        return [
            c.body["text"]["content"]
            for c in self.sent(CS_SEND)
            if c.body.get("touser") == openid and c.body.get("msgtype") == "text"
        ]

    async def token(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        if (f := await self.fault(call)) is not None:
            return f
        q = request.query
        if q.get("grant_type") != "client_credential":
            return self.refuse(call, 40002, "invalid grant_type")
        if q.get("appid") != self.app_id:
            return self.refuse(call, 40013, "invalid appid")
        if q.get("secret") != self.app_secret:
            return self.refuse(call, 40125, "invalid appsecret")
        return web.json_response({"access_token": self.issue_token(), "expires_in": 7200})

    async def cs_send(self, request: web.Request) -> web.Response:
        call, answer = await self.take(request)
        if answer is not None:
            return answer
        body: dict[str, Any] = call.body if isinstance(call.body, dict) else {}
        msgtype = body.get("msgtype")
        if not body.get("touser"):
            return self.refuse(call, 40003, "invalid openid")
        if msgtype not in {"text", "image", "voice", "video", "music", "news", "mpnews", "link", "miniprogrampage"}:
            return self.refuse(call, 40008, "invalid message type")
        if msgtype == "text" and len(body.get("text", {}).get("content", "").encode()) > 2048:
            return self.refuse(call, 45002, "content size out of limit")
        if msgtype == "image" and not body.get("image", {}).get("media_id"):
            return self.refuse(call, 40007, "invalid media_id")
        if body["touser"] in self.closed:
            return self.refuse(call, 45015, "response out of time limit or subscription is canceled")
        return self.ok()

    async def template_send(self, request: web.Request) -> web.Response:
        """message/template/send and message/subscribe/bizsend: {touser, template_id, url|page, data}.
        Not bound by the 48-hour window; the template's keys must each have {"value": str}."""
        call, answer = await self.take(request)
        if answer is not None:
            return answer
        body: dict[str, Any] = call.body if isinstance(call.body, dict) else {}
        if not isinstance(body.get("touser"), str) or not body["touser"]:
            return self.refuse(call, 40003, "invalid openid")
        keys = self.templates.get(body.get("template_id", ""))
        if keys is None:
            return self.refuse(call, 40037, "invalid template_id")
        data = body.get("data")
        if not isinstance(data, dict):
            return self.refuse(call, 47003, "argument invalid! data invalid")
        for key in sorted(keys | set(data)):
            item = data.get(key)
            if (key in keys and item is None) or (
                item is not None and (not isinstance(item, dict) or not isinstance(item.get("value"), str))
            ):
                return self.refuse(call, 47003, f"argument invalid! data.{key}.value invalid")
        if call.path == SUBSCRIBE_SEND:
            return self.ok()
        self._msgid += 1
        return self.ok(msgid=self._msgid)

    async def user_info(self, request: web.Request) -> web.Response:
        _, answer = await self.take(request)  # an injected fault (a delay, an error) applies here too
        if answer is not None:
            return answer
        openid = request.query.get("openid", "")
        if openid not in self.nicknames:  # today's API no longer returns nicknames at all
            return web.json_response({"subscribe": 1, "openid": openid, "remark": ""})
        return web.json_response({"subscribe": 1, "openid": openid, "nickname": self.nicknames[openid], "remark": ""})

    async def media_upload(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        if (bad := self.check_token(request, call)) is not None:
            return bad
        media_id = f"wx-media-{len(self.media) + 1}"
        self.media[media_id] = next(iter(call.body.get("_files", {}).values()), b"")
        return web.json_response(
            {"type": request.query.get("type", "image"), "media_id": media_id, "created_at": int(time.time())}
        )

    async def media_get(self, request: web.Request) -> web.Response:
        call = await self.record(request)
        if (bad := self.check_token(request, call)) is not None:
            return bad
        data = self.media.get(request.query.get("media_id", ""))
        if data is None:
            return self.refuse(call, 40007, "invalid media_id")
        return web.Response(
            body=data, content_type="image/jpeg", headers={"Content-Disposition": 'attachment; filename="image.jpg"'}
        )


@dataclass
class WeChatPusher:
    """The WeChat server's side of the webhook: builds, signs, encrypts and posts callbacks."""

    url: str  # kefu's webhook, e.g. http://127.0.0.1:8080/wechat/mp
    token: str
    app_id: str
    aes_key: str = ""  # set: safe mode
    gh_id: str = "gh_0123456789ab"
    compatible: bool = False  # with aes_key: also send the plaintext fields (compatible mode)

    def xml(self, openid: str, msg_type: str, fields: dict[str, Any], create_time: int | None = None) -> str:
        ct = create_time or int(time.time())
        inner = "".join(
            f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()
        )
        return (
            f"<xml><ToUserName><![CDATA[{self.gh_id}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{ct}</CreateTime>"
            f"<MsgType><![CDATA[{msg_type}]]></MsgType>{inner}</xml>"
        )

    def text_xml(self, openid: str, content: str, msg_id: int, create_time: int | None = None) -> str:
        return self.xml(openid, "text", {"Content": content, "MsgId": msg_id}, create_time)

    def event_xml(self, openid: str, event: str, key: str = "", create_time: int | None = None) -> str:
        return self.xml(openid, "event", {"Event": event, "EventKey": key}, create_time)

    def signed(
        self, plain_xml: str, *, timestamp: str | None = None, nonce: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """(query, body) exactly as WeChat would post this message."""
        ts = timestamp or str(int(time.time()))
        nonce = nonce or secrets.token_hex(5)
        signer = WeChatSigner()
        signer.add_data(self.token, ts, nonce)
        query = {"signature": signer.signature, "timestamp": ts, "nonce": nonce, "openid": "x"}
        if not self.aes_key:
            return query, plain_xml.encode()
        crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)
        enc = xmltodict.parse(crypto.encrypt_message(plain_xml, nonce, ts))["xml"]
        encrypt, msg_sig = enc["Encrypt"], enc["MsgSignature"]
        query.update(encrypt_type="aes", msg_signature=msg_sig)
        if self.compatible:
            body = plain_xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
        else:
            body = (
                f"<xml><ToUserName><![CDATA[{self.gh_id}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
            )
        return query, body.encode()

    async def post(self, http: aiohttp.ClientSession, plain_xml: str, **kw: Any) -> tuple[int, str]:
        query, body = self.signed(plain_xml, **kw)
        async with http.post(self.url, params=query, data=body, headers={"Content-Type": "text/xml"}) as r:
            return r.status, await r.text()

    async def verify(self, http: aiohttp.ClientSession, echostr: str = "echo-123") -> tuple[int, str]:
        ts, nonce = str(int(time.time())), secrets.token_hex(5)
        signer = WeChatSigner()
        signer.add_data(self.token, ts, nonce)
        params = {"signature": signer.signature, "timestamp": ts, "nonce": nonce, "echostr": echostr}
        async with http.get(self.url, params=params) as r:
            return r.status, await r.text()
