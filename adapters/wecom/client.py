"""WeCom API, async: token, app messages to users, appchat, group robot webhooks, media."""

from __future__ import annotations

from typing import Any

import aiohttp

from adapters.pace import ROBOT_INTERVAL, wait_turn
from adapters.tokens import RATE_LIMITED, CgiMedia, TokenClient
from bot.errors import PlatformError, RateLimited
from bot.state import State

__all__ = ["WeComClient", "DEDUPE_INTERVAL"]

DEDUPE_INTERVAL = 1800  # message/send's duplicate_check_interval default (max 4 h)


class WeComClient(TokenClient, CgiMedia):
    platform = "wecom"
    robot_interval = ROBOT_INTERVAL

    def __init__(
        self, base_url: str, http: aiohttp.ClientSession, state: State, corp_id: str, secret: str, agent_id: int
    ):
        # one token per app: the secret's head tells apps of one corp apart (as wechatpy does)
        super().__init__(base_url, http, state, cache_key=f"wecom:{corp_id}:{secret[:10]}")
        self.corp_id = corp_id
        self.secret = secret
        self.agent_id = agent_id

    async def fetch_token(self) -> tuple[str, int]:
        data = await self.raw("GET", "/cgi-bin/gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret})
        if "access_token" not in data or int(data.get("errcode", 0) or 0):
            raise PlatformError(int(data.get("errcode", -2)), str(data.get("errmsg", "")), platform=self.platform)
        return str(data["access_token"]), int(data.get("expires_in", 7200))

    async def send_text(self, user_ids: str, content: str) -> dict[str, Any]:
        return await self.send(user_ids, "text", {"content": content})

    async def send(self, user_ids: str, msgtype: str, body: dict[str, Any], dedupe: bool = False) -> dict[str, Any]:
        """An app message; `dedupe` asks the platform to drop it if the same one went out within 30 min."""
        payload = {"touser": user_ids, "agentid": self.agent_id, "msgtype": msgtype, msgtype: body, "safe": 0}
        if dedupe:
            payload.update(enable_duplicate_check=1, duplicate_check_interval=DEDUPE_INTERVAL)
        data = await self.call("POST", "/cgi-bin/message/send", json=payload)
        if data.get("invaliduser"):
            raise PlatformError(81013, f"unreachable user(s): {data['invaliduser']}", platform=self.platform)
        return data

    async def appchat_text(self, chat_id: str, content: str) -> dict[str, Any]:
        return await self.appchat_send(chat_id, "text", {"content": content})

    async def appchat_send(self, chat_id: str, msgtype: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = {"chatid": chat_id, "msgtype": msgtype, msgtype: body, "safe": 0}
        return await self.call("POST", "/cgi-bin/appchat/send", json=payload)

    async def robot_text(self, key: str, content: str, mentioned: list[str] | None = None) -> dict[str, Any]:
        """A group robot webhook: no token, the key is the credential."""
        payload = {"msgtype": "text", "text": {"content": content, "mentioned_list": mentioned or []}}
        await wait_turn(self.state, f"wecom-robot:{key}", self.robot_interval)  # 20 a minute per robot
        data = await self.raw("POST", "/cgi-bin/webhook/send", params={"key": key}, json=payload)
        code = int(data.get("errcode", 0) or 0)
        if code in RATE_LIMITED:  # over 20 a minute after all (another sender on the same robot)
            raise RateLimited(f"wecom robot: rate limited ({code})")
        if code:
            raise PlatformError(code, str(data.get("errmsg", "")), platform=self.platform)
        return data
