"""WeChat Official Account API, async: token, customer-service send, user info, media."""

from __future__ import annotations

from typing import Any

import aiohttp

from adapters.tokens import CgiMedia, TokenClient
from bot.errors import PlatformError
from bot.state import State

__all__ = ["WeChatClient"]


class WeChatClient(TokenClient, CgiMedia):
    platform = "wechat"

    def __init__(self, base_url: str, http: aiohttp.ClientSession, state: State, app_id: str, app_secret: str):
        super().__init__(base_url, http, state, cache_key=f"wechat:{app_id}")
        self.app_id = app_id
        self.app_secret = app_secret

    async def fetch_token(self) -> tuple[str, int]:
        data = await self.raw(
            "GET",
            "/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.app_id, "secret": self.app_secret},
        )
        if "access_token" not in data:
            raise PlatformError(int(data.get("errcode", -2)), str(data.get("errmsg", "")), platform=self.platform)
        return str(data["access_token"]), int(data.get("expires_in", 7200))

    async def send(self, openid: str, msgtype: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = {"touser": openid, "msgtype": msgtype, msgtype: body}
        return await self.call("POST", "/cgi-bin/message/custom/send", json=payload)

    async def send_text(self, openid: str, content: str) -> dict[str, Any]:
        return await self.send(openid, "text", {"content": content})

    async def send_image(self, openid: str, media_id: str) -> dict[str, Any]:
        return await self.send(openid, "image", {"media_id": media_id})

    async def send_template(self, openid: str, template_id: str, data: dict[str, Any], url: str = "") -> str:
        """A template message (模板消息), outside the 48-hour window; its msgid."""
        payload: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": data}
        if url:
            payload["url"] = url
        res = await self.call("POST", "/cgi-bin/message/template/send", json=payload)
        return str(res.get("msgid", ""))

    async def send_subscribe(self, openid: str, template_id: str, data: dict[str, Any], page: str = "") -> str:
        """A subscription notice (订阅通知, one-off or long-term), outside the 48-hour window."""
        payload: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": data}
        if page:
            payload["page"] = page
        await self.call("POST", "/cgi-bin/message/subscribe/bizsend", json=payload)
        return ""

    async def user_info(self, openid: str) -> dict[str, Any]:
        return await self.call("GET", "/cgi-bin/user/info", params={"openid": openid, "lang": "zh_CN"})
