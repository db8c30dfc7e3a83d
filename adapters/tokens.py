"""An async JSON API client with a shared, cached access token (the WeChat family's pattern).

The token lives in the shared state (Redis when the bus is Redis, so every process
shares one), and one refresher at a time fetches a new one, under a lock.
"""

from __future__ import annotations

import asyncio
import json
import time
from abc import ABC, abstractmethod
from typing import Any

import aiohttp
from loguru import logger

from bot.errors import PlatformError, RateLimited, TransientError, Unreachable
from bot.state import State

__all__ = ["TokenClient", "CgiMedia", "TOKEN_INVALID", "BUSY", "RATE_LIMITED", "UNREACHABLE"]

TOKEN_INVALID = {40001, 40014, 42001}  # invalid, not a token, expired: refresh once and retry
BUSY = {-1}  # "system busy, try later"
RATE_LIMITED = {45009, 45033}  # API call frequency / concurrent-call limit: wait, then send
UNREACHABLE = {  # nothing more can go to this customer until they write again
    45015: "客户超过 48 小时未互动,公众号不能再发消息,请等客户再次来信 (reply window closed)",
    45047: "客服消息条数已用完,请等客户再次来信 (send quota used)",
}


class TokenClient(ABC):
    platform = ""
    token_margin = 300  # refresh this many seconds before the platform's expiry
    # the shared token is also kept in the process this long, so a send does not ask Redis
    # for it; another process's refresh is seen within this time (or at once, by a refusal)
    local_for = 60.0

    def __init__(self, base_url: str, http: aiohttp.ClientSession, state: State, cache_key: str):
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.state = state
        self.key = f"token:{cache_key}"
        self._local: tuple[str, float] = ("", 0.0)  # (token, monotonic time it is kept until)

    @abstractmethod
    async def fetch_token(self) -> tuple[str, int]:
        """Ask the platform for a new token: (token, seconds it lives)."""

    async def token(self, stale: str | None = None) -> str:
        """The shared token; `stale` is one the platform just refused, to be replaced."""
        local, until = self._local
        if local and local != stale and time.monotonic() < until:
            return local
        token = await self._shared(stale)
        self._local = (token, time.monotonic() + self.local_for)
        return token

    async def token_state(self) -> str:
        """What the console shows: whether a token is held (never the token)."""
        if await self.state.get(self.key):
            return "有效 (已缓存)"
        return "尚未获取 (首次调用接口时获取)"

    async def _shared(self, stale: str | None) -> str:
        cached = await self.state.get(self.key)
        if cached and cached != stale:
            return cached
        lock = f"lock:{self.key}"
        for _ in range(100):
            if await self.state.add(lock, ttl=15):
                try:
                    cached = await self.state.get(self.key)
                    if cached and cached != stale:  # another process refreshed meanwhile
                        return cached
                    token, ttl = await self.fetch_token()
                    await self.state.set(self.key, token, ttl=max(60, ttl - self.token_margin))
                    logger.info("{}: fetched a new access token", self.platform)
                    return token
                finally:
                    await self.state.delete(lock)
            await asyncio.sleep(0.1)  # someone else is refreshing; wait for their token
            cached = await self.state.get(self.key)
            if cached and cached != stale:
                return cached
        raise TransientError(f"{self.platform}: timed out waiting for the access token refresh")

    async def raw(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        """One HTTP call; network faults, timeouts and 5xx become TransientError."""
        url = self.base_url + path
        try:
            async with self.http.request(method, url, **kw) as resp:
                body = await resp.read()
                if resp.status >= 500:
                    raise TransientError(f"{self.platform}: HTTP {resp.status} from {path}")
                if resp.status >= 400:
                    raise PlatformError(resp.status, f"HTTP {resp.status} from {path}", platform=self.platform)
                if resp.content_type and not resp.content_type.endswith("json") and body[:1] != b"{":
                    return {
                        "errcode": 0,
                        "_body": body,
                        "_content_type": resp.content_type,
                        "_disposition": resp.headers.get("Content-Disposition", ""),
                    }
        except (aiohttp.ClientError, TimeoutError) as e:
            raise TransientError(f"{self.platform}: {type(e).__name__} calling {path}: {e}") from e
        try:
            data = json.loads(body)
        except ValueError as e:
            raise TransientError(f"{self.platform}: {path} answered non-JSON") from e
        return data if isinstance(data, dict) else {"errcode": 0, "data": data}

    async def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """An authenticated call: the token refreshed once on 40001/40014/42001."""
        stale: str | None = None
        form = kw.pop("form", None)  # a FormData factory: a body can be sent only once
        for attempt in range(2):
            token = await self.token(stale)
            if form is not None:
                kw["data"] = form()
            data = await self.raw(method, path, params={**(params or {}), "access_token": token}, **kw)
            code = int(data.get("errcode", 0) or 0)
            if code == 0:
                return data
            if code in TOKEN_INVALID and attempt == 0:
                logger.warning("{}: token refused ({}); refreshing once", self.platform, code)
                stale = token
                continue
            if code in BUSY:
                raise TransientError(f"{self.platform}: system busy ({code}) on {path}")
            if code in RATE_LIMITED:
                raise RateLimited(f"{self.platform}: rate limited ({code}) on {path}")
            if code in UNREACHABLE and self.platform == "wechat":
                raise Unreachable(code, UNREACHABLE[code], platform=self.platform)
            raise PlatformError(code, str(data.get("errmsg", "")), platform=self.platform)
        raise AssertionError("unreachable")


class CgiMedia:
    """Temporary media of the WeChat family (/cgi-bin/media/upload and /get), for TokenClients."""

    call: Any  # TokenClient.call

    async def upload_media(self, kind: str, data: bytes, filename: str) -> str:
        def form() -> aiohttp.FormData:
            f = aiohttp.FormData()
            f.add_field("media", data, filename=filename, content_type="application/octet-stream")
            return f

        res = await self.call("POST", "/cgi-bin/media/upload", params={"type": kind}, form=form)
        return str(res["media_id"])

    async def download_media(self, media_id: str) -> tuple[bytes, str]:
        """(the bytes, the file name the platform gives, or the media id)."""
        res = await self.call("GET", "/cgi-bin/media/get", params={"media_id": media_id})
        disposition = res.get("_disposition", "")
        name = disposition.split("filename=", 1)[1].strip('" ') if "filename=" in disposition else media_id
        return res.get("_body", b""), name
