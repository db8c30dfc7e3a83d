"""WeCom 微信客服 glue (customer role).

A callback only says "pull": kefu then calls sync_msg from the stored cursor until has_more
is false (an empty page may still have more), ingests the customers' messages and stores the
cursor after each page, so nothing is fetched twice or skipped across restarts. One pull runs at a
time per kf account (a lock in the shared state); a callback that finds it taken leaves a request
the running pull picks up.

Replies respect the platform's limits, tracked durably per customer: only within 48 h of the
customer's last message, at most 5 until they write again. kf/send_msg works only while the
session is new (0) or with the smart assistant (1), so kefu is that assistant: its first send in a
session moves it from 0 to 1, and it never hands a session to a human servicer (2/3), where every
send would be refused (95018). After a conversation's last words (the survey or the closing text)
the session is ended where the platform lets the API end it (from 3 only); kefu's own sessions
(0/1) end by themselves within 48 h.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web
from loguru import logger

from adapters.wecom_kf import inbound
from adapters.wecom_kf.client import ASSISTANT, ENDED, NEW, SESSION_STATE_ERRCODE, TRANSITIONS, WeComKfClient
from adapters.wecom_kf.config import WeComKfAccount
from bot.adapter import RECEIVE_IMAGES, SEND_IMAGES, Adapter, Host, Route
from bot.errors import BadRequest, BusUnavailable, KefuError, PlatformError, Unreachable
from bot.model import Delivery, Message

__all__ = ["WeComKfAdapter", "ReplyRefused", "REPLY_WINDOW", "REPLY_QUOTA"]

REPLY_WINDOW = 48 * 3600.0  # replies only this long after the customer's last message
REPLY_QUOTA = 5  # replies until the customer writes again
QUOTA_ERRCODE = 95001  # the platform's "send quota used up"
SESSION = 48 * 3600.0  # a session lasts at most this long
CLOSING = frozenset({"survey", "closed"})  # a closed conversation's last words to the customer
_LOCK_TTL = 60.0  # renewed on every page; frees itself if the process dies mid-pull
_WELCOME_TTL = 20.0  # an enter_session welcome_code is single-use and valid 20 s from the event


def _at(last: str | None) -> float:
    """The time in a stored "<send_time>:<msgid>" of a customer's latest message."""
    try:
        return float((last or "0").split(":", 1)[0])
    except ValueError:
        return 0.0


class ReplyRefused(Unreachable):
    """微信客服 will not take this reply; the message is what the agent is told."""

    def __init__(self, reason: str, errcode: int = QUOTA_ERRCODE):
        super().__init__(errcode, reason, platform="wecom_kf")

    def __str__(self) -> str:
        return self.errmsg


class WeComKfAdapter(Adapter):
    platform = "wecom_kf"
    account: WeComKfAccount
    abilities = frozenset({RECEIVE_IMAGES, SEND_IMAGES})
    sync_limit = 1000  # messages per sync_msg page (the platform's maximum)
    max_empty_pages = 10  # empty pages in a row that say has_more before a pull gives up

    def __init__(self, account: WeComKfAccount, host: Host):
        super().__init__(account, host)
        self._tasks: set[asyncio.Task[None]] = set()

    def routes(self) -> list[Route]:
        return [Route("GET", self.verify), Route("POST", self.callback)]

    async def start(self) -> None:
        acc = self.account
        assert self.host.http is not None
        self.client = WeComKfClient(
            acc.api_base_url, self.host.http, self.host.state, acc.corp_id, acc.secret, acc.open_kfid
        )

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- keys ----------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return ":".join(("wecom_kf", self.account.name, *parts))

    @property
    def _cursor_key(self) -> str:
        return self._key(self.account.open_kfid, "cursor")

    # -- inbound -------------------------------------------------------------------

    async def verify(self, request: web.Request) -> web.Response:
        plain = inbound.verify_url(self.account, request.query)  # type: ignore[arg-type]
        logger.info("wecom_kf/{}: URL verification answered", self.account.name)
        return web.Response(text=plain)

    async def callback(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not body:
            raise BadRequest("empty body")
        ev = inbound.read_event(inbound.read_callback(self.account, request.query, body))  # type: ignore[arg-type]
        if ev.event != "kf_msg_or_event":
            logger.info("wecom_kf/{}: event {!r} ignored", self.account.name, ev.event)
        elif ev.open_kfid and ev.open_kfid != self.account.open_kfid:
            logger.warning("wecom_kf/{}: callback for another kf account {} ignored", self.account.name, ev.open_kfid)
        else:
            try:
                await self.pull(ev.token)
            except BusUnavailable:
                raise  # the server answers 503
            except KefuError as e:  # the platform's API failed: WeCom calls again
                logger.error("wecom_kf/{}: pull failed, answering 503: {}", self.account.name, e)
                return web.Response(status=503, text="temporarily unavailable\n")
        return web.Response(text="")  # an empty answer: received

    async def pull(self, token: str) -> None:
        """Fetch and ingest everything new; shielded, so a dropped callback does not cut a page short."""
        task = asyncio.create_task(self._pull(token), name=f"wecom_kf:{self.account.name}:pull")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        await asyncio.shield(task)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:  # retrieved here; the callback logs it
            logger.debug("wecom_kf/{}: pull ended with {!r}", self.account.name, task.exception())

    async def _pull(self, token: str) -> None:
        state = self.host.state
        lock, wanted = f"lock:{self._key(self.account.open_kfid, 'pull')}", self._key(self.account.open_kfid, "wanted")
        await state.set(wanted, token or "-", ttl=600)  # the callback's token lives 10 min
        while await state.add(lock, ttl=_LOCK_TTL):
            try:
                while (t := await state.get(wanted)) is not None:
                    await state.delete(wanted)
                    await self._drain("" if t == "-" else t, lock)
            finally:
                await state.delete(lock)
            if await state.get(wanted) is None:
                return
            # a request came in while we released the lock: take it unless another pull has

        logger.debug("wecom_kf/{}: a pull is running; it will take this callback's request", self.account.name)

    async def _drain(self, token: str, lock: str) -> None:
        host = self.host
        cursor = await host.values.get_value(self._cursor_key) or ""
        empty = 0  # empty pages in a row that said has_more
        while True:
            await host.state.set(lock, "1", ttl=_LOCK_TTL)
            page = await self.client.sync_msg(cursor, token, self.sync_limit)
            items = [i for i in page.get("msg_list") or [] if isinstance(i, dict)]
            messages = await self._take(items)
            if messages:
                await host.ingest(messages)  # BusUnavailable: the cursor stays, the page comes again
            nxt = str(page.get("next_cursor") or cursor)
            moved = nxt != cursor
            if moved:
                await host.values.set_value(self._cursor_key, nxt, host.clock.now())
                cursor = nxt
            logger.info("wecom_kf/{}: {} item(s) pulled, {} taken", self.account.name, len(items), len(messages))
            if not page.get("has_more"):
                return
            # the doc: an empty page can still have more, so go on; but never for ever
            empty = 0 if items else empty + 1
            if not moved:
                logger.warning(
                    "wecom_kf/{}: sync_msg said has_more but kept the cursor ({} item(s)); "
                    "this pull stops, the next callback goes on",
                    self.account.name,
                    len(items),
                )
                return
            if empty >= self.max_empty_pages:
                logger.warning(
                    "wecom_kf/{}: sync_msg answered {} empty pages in a row with has_more; "
                    "this pull stops, the next callback goes on from the stored cursor",
                    self.account.name,
                    empty,
                )
                return

    async def _take(self, items: list[dict[str, Any]]) -> list[Message]:
        """The page's Messages; notes each customer's latest message (their reply window) and
        enter_session welcome codes before the messages reach the bus, where replies may follow at once."""
        out: list[Message] = []
        latest: dict[str, tuple[float, str]] = {}
        for item in items:
            ev = inbound.system_event(item)
            if ev is not None:
                kind, user, code = ev
                if user and kind in ("enter_session", "session_status_change"):
                    await self.host.state.delete(self._key(user, "assisted"))  # a new or moved session
                if user and code:  # it lives 20 s from the event, not from this pull
                    left = (float(item.get("send_time") or 0) or time.time()) + _WELCOME_TTL - time.time()
                    if left > 0:
                        await self.host.state.set(self._key(user, "welcome"), code, ttl=left)
            msg = inbound.to_message(self.account.name, item)
            if msg is None:
                continue
            if msg.kind != "event" and msg.sent_at >= latest.get(msg.sender, (0.0, ""))[0]:
                latest[msg.sender] = (msg.sent_at, msg.external_id)
            out.append(msg)
        for user, (at, msgid) in latest.items():
            key = self._key(user, "last")
            if at >= _at(await self.host.values.get_value(key)):
                # the value names the message too: two in one second still restart the count
                await self.host.values.set_value(key, f"{int(at)}:{msgid}", self.host.clock.now())
        return out

    # -- outbound ------------------------------------------------------------------

    async def send(self, d: Delivery) -> str:
        if d.group or d.chat:
            raise PlatformError(0, "a 微信客服 account has no group chats", platform=self.platform)
        if d.kind == "text":
            msgtype, body = "text", {"content": d.text}
        else:
            msgtype, body = "image", {"media_id": d.media}
        state, values = self.host.state, self.host.values
        welcome = self._key(d.to, "welcome")
        code = await state.get(welcome) if d.kind == "text" and d.purpose == "greeting" else None
        if code and await state.delete(welcome):  # single-use: only the caller that removed it
            try:
                data = await self.client.send_msg_on_event(code, d.text)
                return str(data.get("msgid") or "")
            except PlatformError as e:  # expired or used: the ordinary rules decide
                logger.info("wecom_kf/{}: welcome code not taken ({}); sending normally", self.account.name, e)
        last = await values.get_value(self._key(d.to, "last"))
        if last is None:
            raise ReplyRefused("该客户还没有发过消息,微信客服不能主动发消息 (the customer has not written yet)")
        if time.time() - _at(last) > REPLY_WINDOW:
            raise ReplyRefused(
                "客户最后一条消息已超过 48 小时,微信客服不能再回复,请等客户再次发消息 "
                "(more than 48 h since the customer last wrote)"
            )
        sent = self._sent_since(await values.get_value(self._key(d.to, "sent")), last)
        if sent >= REPLY_QUOTA:
            raise ReplyRefused(
                f"客户再次发消息前微信客服最多回复 {REPLY_QUOTA} 条,已达上限,请等客户回复 "
                f"({REPLY_QUOTA} replies already sent since the customer last wrote)"
            )
        await self._assist(d.to)
        try:
            data = await self.client.send_msg(d.to, msgtype, body)
        except PlatformError as e:
            if e.errcode == QUOTA_ERRCODE:
                raise ReplyRefused(f"微信客服拒绝发送: 回复次数或 48 小时时限已用完 ({e.errmsg})") from e
            if e.errcode == SESSION_STATE_ERRCODE:
                await state.delete(self._key(d.to, "assisted"))
                raise ReplyRefused(
                    "该客户的微信客服会话已转给企业微信里的接待人员或在排队中,接口不能再发消息,"
                    "请在企业微信客户端回复 (the session is with a human servicer or queued, errcode 95018)",
                    SESSION_STATE_ERRCODE,
                ) from e
            raise
        await values.set_value(
            self._key(d.to, "sent"), json.dumps({"since": last, "sent": sent + 1}), self.host.clock.now()
        )
        if d.purpose in CLOSING:
            await self._end(d.to)
        return str(data.get("msgid") or "")

    @staticmethod
    def _sent_since(raw: str | None, last: str) -> int:
        """Replies counted since the customer's message at `last` (a newer message resets the count)."""
        try:
            v = json.loads(raw or "{}")
        except ValueError:
            return 0
        return int(v.get("sent", 0)) if isinstance(v, dict) and v.get("since") == last else 0

    async def _assist(self, user: str) -> None:
        """Before kefu's first send in a session: a new session (0) becomes the smart assistant's (1),
        where the API may send. Never 2 or 3: there only the servicer in the WeCom client may."""
        key = self._key(user, "assisted")
        if await self.host.state.get(key):
            return  # a stale mark is harmless: a new session starts in 0, where sending works too
        try:
            current, _ = await self.client.service_state(user)
            if current == NEW:
                await self.client.trans_service_state(user, ASSISTANT)
                logger.info("wecom_kf/{}: kefu now assists {} (session state 1)", self.account.name, user)
            elif current != ASSISTANT:
                return  # with a servicer, queued or ended: the send finds out
        except PlatformError as e:  # the send itself still goes out
            logger.warning("wecom_kf/{}: could not take the session of {}: {}", self.account.name, user, e)
            return
        await self.host.state.set(key, "1", ttl=SESSION)

    async def _end(self, user: str) -> None:
        """After a closed conversation's last words went out: end the session if the doc's table lets
        the API end it from its state now. It does only from 3, so kefu's own sessions (0/1) are left
        to end by themselves (48 h); a detour 1 -> 3 -> 4 would need a servicer on duty and would show
        the session to them."""
        try:
            current, _ = await self.client.service_state(user)
            if ENDED not in TRANSITIONS.get(current, frozenset()):
                logger.info("wecom_kf/{}: session of {} left in state {}", self.account.name, user, current)
                return
            await self.client.trans_service_state(user, ENDED)
            await self.host.state.delete(self._key(user, "assisted"))
            logger.info("wecom_kf/{}: session of {} ended (from state {})", self.account.name, user, current)
        except Exception as e:  # the message is out: nothing here may make the sender send it again
            logger.warning("wecom_kf/{}: could not end the session of {}: {}", self.account.name, user, e)

    # -- people and media ------------------------------------------------------------

    async def display_name(self, user_id: str) -> str:
        return await self.client.nickname(user_id)

    async def download_media(self, media_id: str) -> tuple[bytes, str]:
        return await self.client.download_media(media_id)

    async def upload_image(self, data: bytes, filename: str) -> str:
        return await self.client.upload_media("image", data, filename)
