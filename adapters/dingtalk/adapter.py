"""DingTalk enterprise robot glue, in either role: HTTP receive mode (a signed callback URL) or
Stream mode (a WebSocket kefu opens, see stream.py; no callback URL is served then).

Replies go through the message's session webhook while it is fresh, otherwise through the
robot OpenAPI (1:1 batchSend by staffId); group notices through a custom robot (SEC signed)
or the robot's group send.
"""

from __future__ import annotations

import time

from aiohttp import web

from adapters.dingtalk import inbound
from adapters.dingtalk.client import DingTalkClient, robot_url
from adapters.dingtalk.config import DingTalkAccount
from adapters.dingtalk.stream import TOPIC, ChatbotCallback, StreamClient
from adapters.pace import ROBOT_INTERVAL, wait_turn
from bot.adapter import Adapter, Route
from bot.errors import BadRequest, PlatformError
from bot.model import Delivery, Message

__all__ = ["DingTalkAdapter"]

_MARGIN = 60  # do not use a session webhook in its last minute


class DingTalkAdapter(Adapter):
    platform = "dingtalk"
    # no pictures either way yet (no download_media/upload_image): the rules keep them off DingTalk
    abilities = frozenset()
    account: DingTalkAccount
    stream: StreamClient | None = None  # Stream mode's connection

    def routes(self) -> list[Route]:
        return [] if self.account.mode == "stream" else [Route("POST", self.callback)]

    async def start(self) -> None:
        acc = self.account
        assert self.host.http is not None
        self.client = DingTalkClient(
            acc.api_base_url, self.host.http, self.host.state, acc.app_key, acc.app_secret, acc.robot
        )
        if acc.mode == "stream":
            self.stream = StreamClient(acc.app_key, acc.app_secret, acc.stream_endpoint, acc.name)
            self.stream.register_callback_handler(TOPIC, ChatbotCallback(acc.name, self.take))
            self.stream.launch()

    async def stop(self) -> None:
        if self.stream is not None:
            await self.stream.stop()

    def _webhook_key(self, user_id: str) -> str:
        return f"dingtalk:webhook:{self.account.name}:{user_id}"

    async def callback(self, request: web.Request) -> web.Response:
        # the platform's clock, not the desk's (which tests may set): signatures are about real time
        inbound.verify(self.account, request.headers, time.time())
        body = await request.read()
        if not body:
            raise BadRequest("empty body")
        await self.take(inbound.to_message(self.account.name, body))
        return web.json_response({})  # answered later, never in the HTTP reply

    async def take(self, msg: Message) -> None:
        """Either mode: keep a 1:1 chat's session webhook (it answers that person), then ingest."""
        hook, expires = msg.data.get("session_webhook", ""), float(msg.data.get("session_webhook_expires", 0))
        ttl = expires - time.time() - _MARGIN
        if hook and ttl > 0 and not msg.chat:
            await self.host.state.set(self._webhook_key(msg.sender), hook, ttl=ttl)
        await self.host.ingest([msg])

    async def send(self, d: Delivery) -> str:
        if d.kind != "text":  # the sender refuses these first; this is the adapter's own word on it
            raise PlatformError(
                0, f"only text can be sent to DingTalk yet; this delivery is a {d.kind}", platform=self.platform
            )
        if d.group:
            return await self._to_group(d)
        if d.chat:  # a desk group the robot is in
            data = await self.client.send_to_group(d.to, d.text)
            return str(data.get("processQueryKey") or "")
        hook = await self.host.state.get(self._webhook_key(d.to))
        if hook:
            await self.client.send_by_webhook(hook, d.text)
            return ""
        data = await self.client.send_to_user(d.to, d.text)
        return str(data.get("processQueryKey") or "")

    async def _to_group(self, d: Delivery) -> str:
        group = self.host.groups.get(d.group)
        if group is None:
            raise PlatformError(0, f"no group named {d.to}", platform=self.platform)
        if group.webhook:  # a custom robot: 20 a minute, so paced (the sign is made when its turn comes)
            await wait_turn(self.host.state, f"dingtalk-robot:{group.webhook}", ROBOT_INTERVAL)
            await self.client.send_by_webhook(robot_url(group.webhook, group.secret), d.text)
            return ""
        data = await self.client.send_to_group(group.chat_id, d.text)
        return str(data.get("processQueryKey") or "")
