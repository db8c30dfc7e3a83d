"""WeCom self-built app glue (desk role): agents' 1:1 chats with the app, group notices."""

from __future__ import annotations

from aiohttp import web
from loguru import logger

from adapters.wecom import inbound
from adapters.wecom.client import WeComClient
from adapters.wecom.config import WeComAccount
from adapters.wecom.voice import voice_problem
from bot.adapter import RECEIVE_IMAGES, SEND_IMAGES, SEND_VOICE, Adapter, Route
from bot.errors import BadRequest, PlatformError
from bot.model import Delivery

__all__ = ["WeComAdapter"]


class WeComAdapter(Adapter):
    platform = "wecom"
    account: WeComAccount
    abilities = frozenset({RECEIVE_IMAGES, SEND_IMAGES, SEND_VOICE})

    def routes(self) -> list[Route]:
        return [Route("GET", self.verify), Route("POST", self.callback)]

    async def start(self) -> None:
        acc = self.account
        assert self.host.http is not None
        self.client = WeComClient(
            acc.api_base_url, self.host.http, self.host.state, acc.corp_id, acc.secret, acc.agent_id
        )

    async def verify(self, request: web.Request) -> web.Response:
        plain = inbound.verify_url(self.account, request.query)
        logger.info("wecom/{}: URL verification answered", self.account.name)
        return web.Response(text=plain)

    async def callback(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not body:
            raise BadRequest("empty body")
        plain = inbound.read_callback(self.account, request.query, body)
        msg = inbound.to_message(self.account.name, plain)
        await self.host.ingest([msg])
        return web.Response(text="")  # an empty answer: received, no passive reply

    async def send(self, d: Delivery) -> str:
        if d.group:
            return await self._to_group(d)
        if d.chat:  # a desk group: an appchat the app created
            if d.kind in ("image", "voice"):
                await self.client.appchat_send(d.to, d.kind, {"media_id": d.media})
            else:
                await self.client.appchat_text(d.to, d.text)
            return ""
        if d.kind in ("image", "voice"):
            data = await self.client.send(d.to, d.kind, {"media_id": d.media}, dedupe=d.resend)
        else:
            data = await self.client.send(d.to, "text", {"content": d.text}, dedupe=d.resend)
        return str(data.get("msgid") or "")

    def dedupes(self, d: Delivery) -> bool:
        """An app message to a person: message/send has a duplicate check (not appchat, not robots)."""
        return not d.group and not d.chat

    async def _to_group(self, d: Delivery) -> str:
        group = self.host.groups.get(d.group)
        if group is None:
            raise PlatformError(0, f"no group named {d.to}", platform=self.platform)
        if group.webhook_key:
            await self.client.robot_text(group.webhook_key, d.text)
        else:
            await self.client.appchat_text(group.chat_id, d.text)
        return ""

    async def download_media(self, media_id: str) -> tuple[bytes, str]:
        return await self.client.download_media(media_id)

    async def upload_image(self, data: bytes, filename: str) -> str:
        return await self.client.upload_media("image", data, filename)

    async def upload_voice(self, data: bytes, filename: str) -> str:
        if (problem := voice_problem(data)) is not None:  # refused here: kefu does not convert audio
            raise PlatformError(0, f"the voice cannot be forwarded: {problem}", platform=self.platform)
        return await self.client.upload_media("voice", data, filename)
