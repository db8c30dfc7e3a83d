"""QQ through OneBot v11 (NapCat, Lagrange), in either role.

Events arrive by HTTP POST at /qq/<name> (HMAC-SHA1 signed when the account has a secret) or
over the reverse WebSocket the implementation opens to /qq/<name>/ws; actions go back over that
WebSocket (answers matched by echo), or to the implementation's HTTP API when none is connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import Coroutine
from typing import Any

from aiohttp import WSMsgType, web
from loguru import logger

from adapters.qq.config import QQAccount
from adapters.qq.onebot import inbound
from adapters.qq.onebot.client import Connection, OneBotClient
from bot.adapter import Adapter, Host, Route
from bot.errors import BadRequest, BusUnavailable, PlatformError
from bot.model import Delivery, Message

__all__ = ["OneBotAdapter"]

_ROLES = {"universal", "api", "event"}


class OneBotAdapter(Adapter):
    platform = "qq"
    account: QQAccount
    action_timeout = 10.0  # seconds an action (send) may take; then its outcome is unknown (Uncertain)
    heartbeat = 30.0  # WebSocket ping interval: a dead peer is noticed and dropped

    def __init__(self, account: QQAccount, host: Host) -> None:
        super().__init__(account, host)
        self._tasks: set[asyncio.Task[Any]] = set()

    def routes(self) -> list[Route]:
        return [Route("POST", self.events), Route("GET", self.websocket, "/ws")]

    async def start(self) -> None:
        acc = self.account
        assert self.host.http is not None
        self.client = OneBotClient(self.host.http, acc.api_url, acc.access_token, self.action_timeout)
        if not acc.secret:
            logger.warning("qq/{}: no secret: HTTP POST events are refused, only the WebSocket is open", acc.name)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.close_all()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)  # a strong reference until it is done
        task.add_done_callback(self._tasks.discard)

    # -- inbound -------------------------------------------------------------------

    async def events(self, request: web.Request) -> web.Response:
        body = await request.read()
        inbound.verify(self.account.secret, request.headers, body)
        await self._take(inbound.load_event(body))
        return web.Response(status=204)  # no quick operation: answers go out as actions

    async def _take(self, event: dict[str, Any]) -> None:
        if not inbound.is_message(event):
            return  # heartbeat, lifecycle, notices, requests: acknowledged and ignored
        msg = inbound.to_message(self.account.name, event)
        if self._ignored(msg):
            return
        await self.host.ingest([msg])

    def _ignored(self, msg: Message) -> bool:
        # a customer inbox takes group messages only when they @ the bot, as the official API does
        if self.account.role == "customer" and msg.chat and not msg.data.get("at_self"):
            logger.debug("qq/{}: group {} chatter not addressed to the bot ignored", self.account.name, msg.chat)
            return True
        return False

    # -- the reverse WebSocket -----------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        token = self.account.access_token
        given = request.headers.get("Authorization", "")
        for scheme in ("Bearer ", "Token "):
            if given.startswith(scheme):
                given = given[len(scheme) :]
                break
        else:
            given = given or request.query.get("access_token", "")
        return bool(token) and hmac.compare_digest(given.strip().encode(), token.encode())

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            reason = "bad or missing access token" if self.account.access_token else "no access_token configured"
            logger.warning("qq/{}: reverse WebSocket refused: {}", self.account.name, reason)
            raise web.HTTPUnauthorized(text=f"{reason}\n")
        ws = web.WebSocketResponse(heartbeat=self.heartbeat)
        await ws.prepare(request)
        self_id = request.headers.get("X-Self-ID", "").strip()
        role = (request.headers.get("X-Client-Role", "") or "Universal").strip().lower()
        if not self_id.isdigit() or role not in _ROLES:
            why = "missing or bad X-Self-ID" if not self_id.isdigit() else f"unknown X-Client-Role {role!r}"
            logger.warning("qq/{}: reverse WebSocket closed: {}", self.account.name, why)
            await ws.close(code=1008, message=why.encode())
            return ws
        conn = Connection(self_id, role, ws)
        for old in self.client.attach(conn):  # a reconnect replaces the connection it left behind
            self._spawn(old.ws.close(code=1000, message=b"replaced by a new connection"))
        logger.info("qq/{}: OneBot {} connected ({})", self.account.name, self_id, role)
        try:
            async for frame in ws:
                if frame.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self._frame(conn, frame.data)
        finally:
            self.client.detach(conn)
            logger.info("qq/{}: OneBot {} ({}) disconnected", self.account.name, self_id, role)
        return ws

    async def _frame(self, conn: Connection, data: str | bytes) -> None:
        try:
            frame = inbound.load_event(data)
            if "post_type" not in frame:
                if not self.client.answer(frame):
                    logger.debug("qq/{}: an answer nobody waits for: {!r}", self.account.name, frame.get("echo"))
                return
            await self._take(frame)
        except BadRequest as e:  # one bad frame must not end the connection
            logger.warning("qq/{}: WebSocket frame from {} refused: {}", self.account.name, conn.self_id, e)
        except BusUnavailable as e:  # no retry on a WebSocket: the message is lost, say so loudly
            logger.error("qq/{}: WebSocket event not stored: {}", self.account.name, e)

    async def before_shutdown(self) -> None:
        """The shared server waits for open handlers when it stops: close the WebSockets first."""
        await self.client.close_all(1001, b"kefu is stopping")

    # -- outbound ------------------------------------------------------------------

    async def send(self, d: Delivery) -> str:
        if d.kind != "text":
            raise PlatformError(0, "only text can be sent to QQ yet", platform=self.platform)
        message = inbound.text_segments(d.text)
        if d.group:
            group = self.host.groups.get(d.group)
            if group is None or not group.chat_id:
                raise PlatformError(0, f"no QQ group configured as {d.group}", platform=self.platform)
            return await self.client.send_group(group.chat_id, message)
        if d.chat:  # a desk group the bot is in
            return await self.client.send_group(d.to, message)
        return await self.client.send_private(d.to, message)

    async def display_name(self, user_id: str) -> str:
        with contextlib.suppress(ValueError):
            data = await self.client.call("get_stranger_info", {"user_id": int(user_id)})
            return str(data.get("nickname") or "")
        return ""
