"""DingTalk API, async: the v1.0 access token, robot 1:1 and group sends, session webhooks,
and custom group robots with 加签 (SEC) signing."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote_plus

import aiohttp
from loguru import logger

from adapters.dingtalk.inbound import sign
from adapters.tokens import TokenClient
from bot.errors import PlatformError, RateLimited, TransientError
from bot.state import State

__all__ = ["DingTalkClient", "robot_url"]

# v1.0 answers errors as HTTP 4xx with {"code": "...", "message": "..."}
_AUTH_ERRORS = {401, 403}


def robot_url(webhook: str, secret: str, now_ms: int | None = None) -> str:
    """A custom robot's webhook with its timestamp and sign (when it has a SEC secret)."""
    if not secret:
        return webhook
    ts = str(now_ms or int(time.time() * 1000))
    return f"{webhook}&timestamp={ts}&sign={quote_plus(sign(ts, secret))}"


class DingTalkClient(TokenClient):
    platform = "dingtalk"

    def __init__(
        self, base_url: str, http: aiohttp.ClientSession, state: State, app_key: str, app_secret: str, robot_code: str
    ):
        super().__init__(base_url, http, state, cache_key=f"dingtalk:{app_key}")
        self.app_key, self.app_secret, self.robot_code = app_key, app_secret, robot_code

    async def fetch_token(self) -> tuple[str, int]:
        data = await self._post("/v1.0/oauth2/accessToken", {"appKey": self.app_key, "appSecret": self.app_secret})
        if "accessToken" not in data:
            raise PlatformError(0, str(data.get("message", "no accessToken")), platform=self.platform)
        return str(data["accessToken"]), int(data.get("expireIn", 7200))

    async def _post(self, path_or_url: str, payload: dict[str, Any], token: str = "") -> dict[str, Any]:
        url = path_or_url if path_or_url.startswith("http") else self.base_url + path_or_url
        headers = {"x-acs-dingtalk-access-token": token} if token else {}
        try:
            async with self.http.post(url, json=payload, headers=headers) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as e:
            raise TransientError(f"dingtalk: {type(e).__name__} calling {url.split('?')[0]}: {e}") from e
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            data = {}
        if status >= 500:
            raise TransientError(f"dingtalk: HTTP {status} from {url.split('?')[0]}")
        if status >= 400:
            raise PlatformError(
                status, f"{data.get('code', '')} {data.get('message', '')}".strip(), platform=self.platform
            )
        code = int(data.get("errcode", 0) or 0) if isinstance(data, dict) else 0
        if code == 130101:  # over the robot's rate limit
            raise RateLimited(f"dingtalk: errcode {code} {data.get('errmsg', '')}")
        if code == -1:  # system busy
            raise TransientError(f"dingtalk: errcode {code} {data.get('errmsg', '')}")
        if code:
            raise PlatformError(code, str(data.get("errmsg", "")), platform=self.platform)
        return data if isinstance(data, dict) else {}

    async def openapi(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A v1.0 call with the shared token, refreshed once when refused."""
        stale: str | None = None
        for attempt in range(2):
            token = await self.token(stale)
            try:
                return await self._post(path, payload, token)
            except PlatformError as e:
                if e.errcode in _AUTH_ERRORS and attempt == 0:
                    logger.warning("dingtalk: token refused ({}); refreshing once", e.errcode)
                    stale = token
                    continue
                raise
        raise AssertionError("unreachable")

    async def send_to_user(self, user_id: str, text: str) -> dict[str, Any]:
        data = await self.openapi(
            "/v1.0/robot/oToMessages/batchSend",
            {
                "robotCode": self.robot_code,
                "userIds": [user_id],
                "msgKey": "sampleText",
                "msgParam": json.dumps({"content": text}, ensure_ascii=False),
            },
        )
        if user_id in (data.get("invalidStaffIdList") or []):
            raise PlatformError(400, f"unreachable user {user_id}", platform=self.platform)
        if user_id in (data.get("flowControlledStaffIdList") or []):
            raise TransientError(f"dingtalk: {user_id} is flow-controlled")
        return data

    async def send_to_group(self, conversation_id: str, text: str) -> dict[str, Any]:
        return await self.openapi(
            "/v1.0/robot/groupMessages/send",
            {
                "robotCode": self.robot_code,
                "openConversationId": conversation_id,
                "msgKey": "sampleText",
                "msgParam": json.dumps({"content": text}, ensure_ascii=False),
            },
        )

    async def send_by_webhook(self, url: str, text: str) -> dict[str, Any]:
        """A session webhook (fresh for ~90 min after the user wrote) or a signed custom robot URL."""
        return await self._post(url, {"msgtype": "text", "text": {"content": text}})
