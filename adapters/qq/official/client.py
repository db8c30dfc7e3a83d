"""Official QQ Bot API, async: the app access token and the two passive-reply sends."""

from __future__ import annotations

import json
from typing import Any, Literal

import aiohttp
from loguru import logger

from adapters.tokens import TokenClient
from bot.errors import PlatformError, RateLimited, TransientError
from bot.state import State

__all__ = ["QQBotClient", "Scope", "RATE_LIMITED", "DUPLICATE_SEQ"]

Scope = Literal["users", "groups"]  # /v2/users/{openid}/messages or /v2/groups/{group_openid}/messages
RATE_LIMITED = 22009
# "消息被去重，请检查请求msgseq": this msg_id + msg_seq was sent already (not in the docs' error table;
# reported by qq-botpy users, e.g. HKUDS/nanobot#1394, AstrBotDevs/AstrBot#4382)
DUPLICATE_SEQ = 40054005


class QQBotClient(TokenClient):
    platform = "qq"

    def __init__(
        self,
        base_url: str,
        http: aiohttp.ClientSession,
        state: State,
        app_id: str,
        app_secret: str,
        token_url: str,
    ):
        super().__init__(base_url, http, state, cache_key=f"qqbot:{app_id}")
        self.app_id, self.app_secret, self.token_url = app_id, app_secret, token_url

    async def fetch_token(self) -> tuple[str, int]:
        status, data = await self._post(self.token_url, {"appId": self.app_id, "clientSecret": self.app_secret})
        if status >= 400 or not data.get("access_token"):
            code = int(data.get("code") or status or 0)
            raise PlatformError(code, str(data.get("message") or "no access_token"), platform=self.platform)
        try:
            ttl = int(data.get("expires_in") or 7200)  # the platform sends it as a string
        except (TypeError, ValueError):
            ttl = 7200
        return str(data["access_token"]), ttl

    async def _post(self, url: str, payload: dict[str, Any], token: str = "") -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"QQBot {token}", "X-Union-Appid": self.app_id} if token else {}
        where = url.split("?")[0]
        try:  # the shared session's timeout: server.api_timeout (10 s by default; the platform asks for 5 s or more)
            async with self.http.post(url, json=payload, headers=headers) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as e:
            raise TransientError(f"qq: {type(e).__name__} calling {where}: {e}") from e
        if status >= 500:
            raise TransientError(f"qq: HTTP {status} from {where}")
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            data = {}
        return status, data if isinstance(data, dict) else {}

    async def api(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """An authenticated call; the token is refreshed once when the platform answers 401."""
        stale: str | None = None
        for attempt in range(2):
            token = await self.token(stale)
            status, data = await self._post(self.base_url + path, payload, token)
            if status == 401 and attempt == 0:
                logger.warning("qq: token refused ({}); refreshing once", data.get("code", status))
                stale = token
                continue
            code = int(data.get("code") or data.get("err_code") or 0) if status >= 400 or "code" in data else 0
            if code == RATE_LIMITED:
                raise RateLimited(f"qq: rate limited ({code}) on {path}")
            if status >= 400 or code:
                raise PlatformError(code or status, str(data.get("message") or f"HTTP {status}"), platform="qq")
            return data
        raise AssertionError("unreachable")

    async def send_text(self, scope: Scope, target: str, content: str, msg_id: str, msg_seq: int) -> str:
        """A passive reply (msg_type 0) to `msg_id`; the platform's id for it."""
        data = await self.api(
            f"/v2/{scope}/{target}/messages",
            {"msg_type": 0, "content": content, "msg_id": msg_id, "msg_seq": msg_seq},
        )
        return str(data.get("id") or "")
