"""WeChat Official Account glue: the webhook routes and deliveries through the CS API."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from loguru import logger

from adapters.wechat import inbound
from adapters.wechat.client import WeChatClient
from adapters.wechat.config import WeChatAccount
from adapters.wechat.notice import fill
from bot.adapter import RECEIVE_IMAGES, RECEIVE_VOICE, SEND_IMAGES, WINDOW_NOTICE, Adapter, Host, Route
from bot.bus import Guard
from bot.errors import BadRequest, SignatureError
from bot.model import Delivery

__all__ = ["WeChatAdapter"]

_SECONDS = re.compile(r"[0-9]{1,12}")  # a unix time in seconds


class WeChatAdapter(Adapter):
    platform = "wechat"
    account: WeChatAccount
    abilities = frozenset({RECEIVE_IMAGES, RECEIVE_VOICE, SEND_IMAGES})

    def __init__(self, account: WeChatAccount, host: Host):
        super().__init__(account, host)
        if account.window_notice is not None:  # this account can tell a customer past the 48-hour window
            self.abilities = self.abilities | {WINDOW_NOTICE}

    def routes(self) -> list[Route]:
        return [Route("GET", self.verify), Route("POST", self.callback)]

    async def start(self) -> None:
        acc = self.account
        assert self.host.http is not None
        self.client = WeChatClient(acc.api_base_url, self.host.http, self.host.state, acc.app_id, acc.app_secret)

    async def verify(self, request: web.Request) -> web.Response:
        echostr = inbound.verify_url(self.account, request.query)
        logger.info("wechat/{}: URL verification answered", self.account.name)
        return web.Response(text=echostr)

    async def callback(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not body:
            raise BadRequest("empty body")
        plain = inbound.read_callback(self.account, request.query, body)
        guard = self._replay_guard(request.query, body)
        msg = inbound.to_message(self.account.name, plain)
        await self.host.ingest([msg], guard=guard)
        # Answered through the customer-service API, never the passive reply: ack at once.
        return web.Response(text="success")

    def _replay_guard(self, query: Mapping[str, str], body: bytes) -> Guard:
        """A fresh timestamp, and a signature never seen with another body (checked as the
        message is stored: one round trip on Redis).

        In plaintext mode the signature does not cover the body, so a captured one must not
        carry a forged body; a platform retry (same signature, same body) is let through.
        """
        ts = query.get("timestamp", "")
        # not str.isdigit(): "²" is a digit int() refuses; and a bounded length converts to a float
        if not _SECONDS.fullmatch(ts) or abs(time.time() - int(ts)) > self.account.max_clock_skew:
            raise SignatureError("the timestamp is too far from now (stale or replayed)")
        key = f"wechat:sig:{self.account.name}:{query.get('msg_signature') or query.get('signature')}:{ts}"
        return Guard(key, hashlib.sha1(body).hexdigest(), 2 * self.account.max_clock_skew)

    async def send(self, d: Delivery) -> str:
        if d.kind == "image":
            await self.client.send_image(d.to, d.media)
        else:
            await self.client.send_text(d.to, d.text)
        return ""  # the CS API gives no message id

    async def send_window_notice(self, to: str, values: Mapping[str, Any]) -> str:
        notice = self.account.window_notice
        if notice is None:
            raise NotImplementedError(f"wechat/{self.account.name} has no window_notice configured")
        data = fill(notice, values)
        if notice.kind == "template":
            return await self.client.send_template(to, notice.template_id, data, notice.url)
        return await self.client.send_subscribe(to, notice.template_id, data, notice.page)

    async def display_name(self, user_id: str) -> str:
        info = await self.client.user_info(user_id)
        return str(info.get("remark") or info.get("nickname") or "")

    async def download_media(self, media_id: str) -> tuple[bytes, str]:
        return await self.client.download_media(media_id)

    async def upload_image(self, data: bytes, filename: str) -> str:
        return await self.client.upload_media("image", data, filename)
