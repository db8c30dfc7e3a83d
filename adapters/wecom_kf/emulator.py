"""WeCom 微信客服 emulator: gettoken, kf/sync_msg (a queue of customers' messages with real cursors
and has_more paging, empty pages on demand), kf/send_msg (only in session states 0/1, within the
48 h / 5 replies rules), send_msg_on_event (single-use codes valid 20 s), service_state get/trans
(the doc's table of allowed changes), customer/batchget, media; and `WeComKfPusher`, WeCom's side of
the encrypted kf_msg_or_event callback (wechatpy's WeChatCrypto, through WeComPusher).

Session states, from the 分配客服会话 doc (developer.work.weixin.qq.com/document/path/94669):
0 new, 1 smart assistant, 2 queue, 3 human (a servicer), 4 ended or not started."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from adapters.emulator import Emulator
from adapters.wecom.emulator import WeComGettoken, WeComPusher

__all__ = ["WeComKfEmulator", "WeComKfPusher", "SYNC", "SEND", "SEND_ON_EVENT", "STATE_GET", "STATE_TRANS"]

SYNC = "/cgi-bin/kf/sync_msg"
SEND = "/cgi-bin/kf/send_msg"
SEND_ON_EVENT = "/cgi-bin/kf/send_msg_on_event"
STATE_GET = "/cgi-bin/kf/service_state/get"
STATE_TRANS = "/cgi-bin/kf/service_state/trans"
BATCHGET = "/cgi-bin/kf/customer/batchget"

WINDOW, QUOTA = 48 * 3600, 5
WELCOME_TTL = 20  # an enter_session welcome_code is valid this long, once
QUOTA_USED = 95001  # sending: the 48 h window or the 5 replies are used up
BAD_KFID, BAD_TOKEN, BAD_CURSOR = 95000, 95007, 95008  # the emulator's choice for these refusals
NOT_SERVICER, BAD_TRANSITION = 95014, 95016
BAD_SESSION_STATE = 95018  # "send msg session status invalid": send_msg outside states 0/1
SENDABLE = {0, 1}  # send_msg works only here; in 2/3 the servicer answers from the WeCom client
# the changes service_state/trans may make (the doc's table); from 4 none: the customer's next message makes it 0
TRANSITIONS = {0: {1, 2, 3}, 1: {2, 3}, 2: {3}, 3: {3, 4}, 4: set()}
_EMPTY_PAGE = "_empty_page"  # a queue entry that is no message: sync_msg answers one empty page there


class WeComKfEmulator(WeComGettoken, Emulator):
    name = "wecom_kf"

    def __init__(
        self,
        corp_id: str,
        secret: str,
        open_kfid: str,
        page_size: int = 1000,
        servicers: set[str] | None = None,
        nicknames: dict[str, str] | None = None,
    ):
        super().__init__()
        self.corp_id, self.secret, self.open_kfid = corp_id, secret, open_kfid
        self.page_size = page_size  # at most this many per sync page, whatever limit asks
        self.servicers = servicers  # userids who may serve; None: anyone
        self.nicknames = nicknames or {}
        self.queue: list[dict[str, Any]] = []  # every item sync_msg can return, oldest first
        self.cursors: dict[str, int] = {}  # opaque cursor -> position in the queue
        self.sync_tokens: dict[str, float] = {}  # callback Token -> expiry
        self.states: dict[str, tuple[int, str]] = {}  # external_userid -> (service_state, servicer); absent: 4
        self.last_wrote: dict[str, float] = {}  # external_userid -> their latest message
        self.replies: dict[str, int] = {}  # external_userid -> replies since then
        self.welcome_codes: dict[str, str] = {}  # code -> external_userid
        self.welcome_until: dict[str, float] = {}  # code -> when it expires
        self._take_after_send: dict[str, str] = {}  # external_userid -> servicer who takes it after a send
        self.media: dict[str, bytes] = {}
        self._n = 0

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/cgi-bin/gettoken", self.gettoken)
        app.router.add_post(SYNC, self.sync_msg)
        app.router.add_post(SEND, self.send_msg)
        app.router.add_post(SEND_ON_EVENT, self.send_msg_on_event)
        app.router.add_post(STATE_GET, self.state_get)
        app.router.add_post(STATE_TRANS, self.state_trans)
        app.router.add_post(BATCHGET, self.batchget)
        app.router.add_post("/cgi-bin/media/upload", self.media_upload)

    # -- what the customer side does (test controls) -----------------------------------

    def _next_id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n:06d}"

    def customer_writes(
        self,
        user: str,
        text: str = "",
        *,
        msgtype: str = "text",
        sent_at: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> str:
        """A WeChat user writes to the kf account; the message waits for sync_msg. Its msgid."""
        at = sent_at if sent_at is not None else time.time()
        msgid = self._next_id("kfmsg")
        self.queue.append(
            {
                "msgid": msgid,
                "open_kfid": self.open_kfid,
                "external_userid": user,
                "send_time": int(at),
                "origin": 3,
                "msgtype": msgtype,
                msgtype: body if body is not None else {"content": text},
            }
        )
        self.last_wrote[user] = max(self.last_wrote.get(user, 0.0), at)
        self.replies[user] = 0
        if self.state(user) == 4:  # a new session starts
            self.states[user] = (0, "")
        return msgid

    def empty_pages(self, count: int = 1) -> None:
        """Here the platform answers `count` empty pages with has_more=1 (the doc says it may)."""
        self.queue.extend({_EMPTY_PAGE: 1} for _ in range(count))

    def servicer_takes(self, user: str, servicer: str, *, after_send: bool = False) -> None:
        """A servicer takes the customer's session in the WeCom client (state 3): now, or right
        after the next message the API sends them (the race a close can meet)."""
        if after_send:
            self._take_after_send[user] = servicer
        else:
            self.states[user] = (3, servicer)

    def state(self, user: str) -> int:
        return self.states.get(user, (4, ""))[0]

    def customer_enters(self, user: str, scene: str = "", sent_at: float | None = None) -> str:
        """A WeChat user opens the kf chat: an enter_session event with a welcome code."""
        at = sent_at if sent_at is not None else time.time()
        code = self._next_id("welcome")
        self.welcome_codes[code] = user
        self.welcome_until[code] = at + WELCOME_TTL
        self.queue.append(
            {
                "msgid": self._next_id("kfevt"),
                "send_time": int(at),
                "origin": 4,
                "msgtype": "event",
                "event": {
                    "event_type": "enter_session",
                    "open_kfid": self.open_kfid,
                    "external_userid": user,
                    "scene": scene,
                    "welcome_code": code,
                },
            }
        )
        return code

    def sync_token(self) -> str:
        """The Token a kf_msg_or_event callback carries (valid 10 minutes)."""
        token = "ENC" + secrets.token_urlsafe(24)
        self.sync_tokens[token] = time.time() + 600
        return token

    def texts_to(self, user: str) -> list[str]:
        """What reached one customer (send_msg and welcome messages), in order."""
        out = []
        for c in self.calls:
            if c.errcode or c.path not in (SEND, SEND_ON_EVENT):
                continue
            to = c.body.get("touser") if c.path == SEND else self.welcome_codes.get(c.body.get("code", ""))
            if to == user and c.body.get("msgtype") == "text":
                out.append(c.body["text"]["content"])
        return out

    # -- the API ---------------------------------------------------------------------

    async def sync_msg(self, request: web.Request) -> web.Response:
        call, bad = await self.take(request)
        if bad is not None:
            return bad
        body = call.body if isinstance(call.body, dict) else {}
        if body.get("open_kfid") != self.open_kfid:
            return self.refuse(call, BAD_KFID, "invalid open_kfid")
        token = body.get("token", "")
        if token and self.sync_tokens.get(token, 0) < time.time():
            return self.refuse(call, BAD_TOKEN, "invalid msg token")
        cursor = str(body.get("cursor") or "")
        if cursor and cursor not in self.cursors:
            return self.refuse(call, BAD_CURSOR, "invalid cursor")
        end = self.cursors.get(cursor, 0)
        limit = max(1, min(int(body.get("limit") or 1000), 1000, self.page_size))
        page: list[dict[str, Any]] = []
        if end < len(self.queue) and _EMPTY_PAGE in self.queue[end]:
            end += 1  # an empty page, which may still have more
        else:
            while end < len(self.queue) and len(page) < limit and _EMPTY_PAGE not in self.queue[end]:
                page.append(self.queue[end])
                end += 1
        nxt = secrets.token_urlsafe(12)  # opaque, as the platform's are
        self.cursors[nxt] = end
        return self.ok(next_cursor=nxt, has_more=int(end < len(self.queue)), msg_list=page)

    async def send_msg(self, request: web.Request) -> web.Response:
        call, bad = await self.take(request)
        if bad is not None:
            return bad
        body = call.body if isinstance(call.body, dict) else {}
        if body.get("open_kfid") != self.open_kfid:
            return self.refuse(call, BAD_KFID, "invalid open_kfid")
        user = str(body.get("touser") or "")
        if not body.get("msgtype") or body["msgtype"] not in body:
            return self.refuse(call, 40008, "invalid message type")
        if time.time() - self.last_wrote.get(user, 0.0) > WINDOW or self.replies.get(user, 0) >= QUOTA:
            return self.refuse(call, QUOTA_USED, "send msg count or time limit exceeded")
        if self.state(user) not in SENDABLE:
            return self.refuse(call, BAD_SESSION_STATE, "send msg session status invalid")
        self.replies[user] = self.replies.get(user, 0) + 1
        if user in self._take_after_send:
            self.states[user] = (3, self._take_after_send.pop(user))
        return self.ok(msgid=self._next_id("kfsent"))

    async def send_msg_on_event(self, request: web.Request) -> web.Response:
        call, bad = await self.take(request)
        if bad is not None:
            return bad
        code = str((call.body or {}).get("code") or "")
        if (
            code not in self.welcome_codes
            or time.time() > self.welcome_until.get(code, 0.0)
            or any(c.body.get("code") == code for c in self.sent(SEND_ON_EVENT) if c is not call)
        ):
            return self.refuse(call, 95007, "invalid, expired or used welcome code")
        return self.ok(msgid=self._next_id("kfwelcome"))

    async def state_get(self, request: web.Request) -> web.Response:
        call, bad = await self.take(request)
        if bad is not None:
            return bad
        state, servicer = self.states.get(str((call.body or {}).get("external_userid")), (4, ""))
        extra: dict[str, Any] = {"service_state": state}
        if servicer:
            extra["servicer_userid"] = servicer
        return self.ok(**extra)

    async def state_trans(self, request: web.Request) -> web.Response:
        call, bad = await self.take(request)
        if bad is not None:
            return bad
        body = call.body if isinstance(call.body, dict) else {}
        user, new, servicer = (
            str(body.get("external_userid")),
            int(body.get("service_state", -1)),
            body.get("servicer_userid", ""),
        )
        if new not in TRANSITIONS[self.state(user)]:
            return self.refuse(call, BAD_TRANSITION, "invalid service state transition")
        if new == 3 and (not servicer or (self.servicers is not None and servicer not in self.servicers)):
            return self.refuse(call, NOT_SERVICER, "servicer not activated")
        self.states[user] = (new, servicer if new == 3 else "")
        return self.ok()

    async def batchget(self, request: web.Request) -> web.Response:
        call, bad = await self.take(request)
        if bad is not None:
            return bad
        users = [str(u) for u in (call.body or {}).get("external_userid_list") or []]
        known = [
            {"external_userid": u, "nickname": self.nicknames[u], "gender": 0} for u in users if u in self.nicknames
        ]
        return self.ok(customer_list=known, invalid_external_userid=[u for u in users if u not in self.nicknames])

    async def media_upload(self, request: web.Request) -> web.Response:
        call, bad = await self.take(request)
        if bad is not None:
            return bad
        media_id = f"kf-media-{len(self.media) + 1}"
        self.media[media_id] = next(iter(call.body.get("_files", {}).values()), b"")
        return self.ok(type=request.query.get("type", "image"), media_id=media_id, created_at=str(int(time.time())))


@dataclass
class WeComKfPusher(WeComPusher):
    """WeCom's side of the 微信客服 callback: an encrypted `kf_msg_or_event` (no content: pull)."""

    agent_id: int = 0
    open_kfid: str = ""

    def event_xml(self, token: str, open_kfid: str | None = None) -> str:
        return (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><CreateTime>{int(time.time())}</CreateTime>"
            f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>"
            f"<Token><![CDATA[{token}]]></Token><OpenKfId><![CDATA[{open_kfid or self.open_kfid}]]></OpenKfId></xml>"
        )

    async def notify(self, http: aiohttp.ClientSession, token: str, **kw: Any) -> tuple[int, str]:
        """Tell kefu there is something to pull."""
        return await self.post(http, self.event_xml(token), **kw)
