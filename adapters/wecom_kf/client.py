"""WeCom 微信客服 API, async: token (the kf secret), sync_msg, send_msg, service state, customers, media.

wechatpy 2.0.0a26's `kf.sync_msg` cannot pass open_kfid, and its client blocks, so this is
a small aiohttp client on the shared TokenClient.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from adapters.tokens import CgiMedia, TokenClient
from bot.errors import PlatformError
from bot.state import State

__all__ = ["WeComKfClient", "NEW", "ASSISTANT", "QUEUE", "HUMAN", "ENDED", "TRANSITIONS", "SESSION_STATE_ERRCODE"]

# service_state, from the 分配客服会话 doc (developer.work.weixin.qq.com/document/path/94669)
NEW, ASSISTANT, QUEUE, HUMAN, ENDED = 0, 1, 2, 3, 4  # ENDED also means "not started yet"
# the changes service_state/trans may make (the doc's table); from ENDED none: the customer's next message makes it NEW
TRANSITIONS: dict[int, frozenset[int]] = {
    NEW: frozenset({ASSISTANT, QUEUE, HUMAN}),
    ASSISTANT: frozenset({QUEUE, HUMAN}),
    QUEUE: frozenset({HUMAN}),
    HUMAN: frozenset({HUMAN, ENDED}),
    ENDED: frozenset(),
}
SESSION_STATE_ERRCODE = 95018  # kf/send_msg outside NEW/ASSISTANT: the servicer answers from the WeCom client


class WeComKfClient(TokenClient, CgiMedia):
    platform = "wecom_kf"

    def __init__(
        self, base_url: str, http: aiohttp.ClientSession, state: State, corp_id: str, secret: str, open_kfid: str
    ):
        # one token per secret, keyed as the WeCom app client keys it (same secret, same token)
        super().__init__(base_url, http, state, cache_key=f"wecom:{corp_id}:{secret[:10]}")
        self.corp_id, self.secret, self.open_kfid = corp_id, secret, open_kfid

    async def fetch_token(self) -> tuple[str, int]:
        data = await self.raw("GET", "/cgi-bin/gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret})
        if "access_token" not in data or int(data.get("errcode", 0) or 0):
            raise PlatformError(int(data.get("errcode", -2)), str(data.get("errmsg", "")), platform=self.platform)
        return str(data["access_token"]), int(data.get("expires_in", 7200))

    async def sync_msg(self, cursor: str, token: str, limit: int = 1000) -> dict[str, Any]:
        """One page: {next_cursor, has_more, msg_list}. `token` is the callback's (10 min), '' for none."""
        payload: dict[str, Any] = {"cursor": cursor, "limit": limit, "open_kfid": self.open_kfid}
        if token:
            payload["token"] = token
        return await self.call("POST", "/cgi-bin/kf/sync_msg", json=payload)

    async def send_msg(self, external_userid: str, msgtype: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = {"touser": external_userid, "open_kfid": self.open_kfid, "msgtype": msgtype, msgtype: body}
        return await self.call("POST", "/cgi-bin/kf/send_msg", json=payload)

    async def send_msg_on_event(self, code: str, content: str) -> dict[str, Any]:
        """A welcome message with an enter_session event's single-use code (valid 20 s)."""
        payload = {"code": code, "msgtype": "text", "text": {"content": content}}
        return await self.call("POST", "/cgi-bin/kf/send_msg_on_event", json=payload)

    async def service_state(self, external_userid: str) -> tuple[int, str]:
        """(service_state, servicer_userid) of the customer's session."""
        data = await self.call(
            "POST",
            "/cgi-bin/kf/service_state/get",
            json={"open_kfid": self.open_kfid, "external_userid": external_userid},
        )
        return int(data.get("service_state", 0) or 0), str(data.get("servicer_userid") or "")

    async def trans_service_state(self, external_userid: str, state: int, servicer_userid: str = "") -> dict[str, Any]:
        payload: dict[str, Any] = {
            "open_kfid": self.open_kfid,
            "external_userid": external_userid,
            "service_state": state,
        }
        if servicer_userid:
            payload["servicer_userid"] = servicer_userid
        return await self.call("POST", "/cgi-bin/kf/service_state/trans", json=payload)

    async def nickname(self, external_userid: str) -> str:
        data = await self.call(
            "POST", "/cgi-bin/kf/customer/batchget", json={"external_userid_list": [external_userid]}
        )
        for c in data.get("customer_list") or []:
            if c.get("external_userid") == external_userid:
                return str(c.get("nickname") or "")
        return ""
