"""QQ through the official QQ Bot API (webhook with Ed25519 signatures), in either role.

The platform only takes passive replies now (proactive messages were discontinued in 2025): a
send answers the latest message that person or group wrote, within its window (C2C 60 min, group
5 min), with at most 5 replies per message, numbered by msg_seq. What is answerable is kept in
the shared state (Redis when several processes share the work), set as messages come in.

The platform refuses a repeated msg_id + msg_seq, which is its duplicate check: each delivery keeps
the slot it took, so a resend (its first answer lost) reuses it, and that refusal means it arrived.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web
from loguru import logger

from adapters.qq.config import QQAccount
from adapters.qq.official import inbound
from adapters.qq.official.client import DUPLICATE_SEQ, QQBotClient, Scope
from bot.adapter import Adapter, Route
from bot.errors import PlatformError, SignatureError, Unreachable
from bot.model import Delivery, Message

__all__ = ["OfficialAdapter"]

_SIGNATURE_HEADERS = ("X-Signature-Ed25519", "X-Signature-Timestamp")


class OfficialAdapter(Adapter):
    platform = "qq"
    account: QQAccount
    windows: dict[str, float] = {"users": 3600.0, "groups": 300.0}  # how long a message can be answered
    max_replies = 5  # per message answered
    max_clock_skew = 3600.0  # an event's signature timestamp may be this far from now

    def routes(self) -> list[Route]:
        return [Route("POST", self.webhook)]

    async def start(self) -> None:
        acc = self.account
        assert self.host.http is not None
        self.key = inbound.signing_key(acc.app_secret)
        self.public = self.key.public_key()
        self.client = QQBotClient(
            acc.api_base_url, self.host.http, self.host.state, acc.app_id, acc.app_secret, acc.token_url
        )

    # -- inbound -------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.read()
        signed = any(h in request.headers for h in _SIGNATURE_HEADERS)
        if signed:  # the platform's clock, not the desk's (which tests may set)
            inbound.verify(self.public, request.headers, body, time.time(), self.max_clock_skew)
        payload = inbound.load(body)
        if payload["op"] == 13:  # URL validation: prove we hold the secret
            logger.info("qq/{}: callback URL validation answered", self.account.name)
            return web.json_response(inbound.validation_reply(self.key, payload.get("d")))
        if not signed:
            raise SignatureError("missing X-Signature-Ed25519 or X-Signature-Timestamp header")
        if payload["op"] == 0:
            msg = inbound.to_message(self.account.name, payload)
            if msg is not None:
                await self._remember(msg)
                await self.host.ingest([msg])
        return web.json_response({"op": 12})  # the HTTP callback ACK

    def _key(self, *parts: str) -> str:
        return ":".join(("qqbot", self.account.name, *parts))

    async def _remember(self, msg: Message) -> None:
        """Keep the message as the one to answer for its sender (or group), for its window."""
        scope: Scope = "groups" if msg.chat else "users"
        target = msg.chat or msg.sender
        window = self.windows[scope]
        left = window - (time.time() - msg.sent_at)
        if left <= 0:
            return  # already too old to answer (a late redelivery)
        key = self._key("last", scope, target)
        raw = await self.host.state.get(key)
        if raw and json.loads(raw).get("at", 0) > msg.sent_at:
            return  # a redelivery of an older message: the newer one stays the one to answer
        await self.host.state.set(key, json.dumps({"msg_id": msg.external_id, "at": msg.sent_at}), ttl=left)
        if msg.chat:  # a member's openid is only reachable through their group
            await self.host.state.set(self._key("member", msg.sender), msg.chat, ttl=left)

    # -- outbound ------------------------------------------------------------------

    async def _target(self, d: Delivery) -> tuple[Scope, str]:
        if d.group:
            group = self.host.groups.get(d.group)
            if group is None or not group.chat_id:
                raise PlatformError(0, f"no QQ group configured as {d.group}", platform=self.platform)
            return "groups", group.chat_id
        if d.chat:
            return "groups", d.to
        group_openid = await self.host.state.get(self._key("member", d.to))
        return ("groups", group_openid) if group_openid else ("users", d.to)

    async def _reply_slot(self, scope: Scope, target: str) -> tuple[str, int]:
        """(msg_id, msg_seq) for one more passive reply to `target`, or PlatformError saying why not."""
        window = self.windows[scope]
        raw = await self.host.state.get(self._key("last", scope, target))
        last: dict[str, Any] = json.loads(raw) if raw else {}
        if not last or time.time() - float(last.get("at", 0)) > window:
            where = "group" if scope == "groups" else "user"
            raise Unreachable(
                0,
                f"QQ only lets a bot answer a message: the {where} {target} has written nothing in the last "
                f"{window / 60:g} min (proactive messages are discontinued)",
                platform=self.platform,
            )
        msg_id = str(last["msg_id"])
        for seq in range(1, self.max_replies + 1):  # add() is atomic, also across processes on Redis
            if await self.host.state.add(self._key("seq", msg_id, str(seq)), ttl=window):
                return msg_id, seq
        raise Unreachable(
            0,
            f"QQ allows {self.max_replies} replies to a message and they are used up; "
            f"the reply can go out once {target} writes again",
            platform=self.platform,
        )

    async def _slot_of(self, d: Delivery) -> tuple[Scope, str, str, int, bool]:
        """(scope, target, msg_id, msg_seq, taken before): the slot an earlier try of this delivery took,
        else a new one, kept for the window so every resend of the delivery uses the same."""
        key = self._key("slot", d.id)
        raw = await self.host.state.get(key)
        if raw:
            s = json.loads(raw)
            return s["scope"], s["target"], s["msg_id"], int(s["seq"]), True
        scope, target = await self._target(d)
        msg_id, seq = await self._reply_slot(scope, target)
        slot = {"scope": scope, "target": target, "msg_id": msg_id, "seq": seq}
        await self.host.state.set(key, json.dumps(slot), ttl=self.windows[scope])
        return scope, target, msg_id, seq, False

    async def send(self, d: Delivery) -> str:
        if d.kind != "text":
            raise PlatformError(0, "only text can be sent to QQ yet", platform=self.platform)
        scope, target, msg_id, seq, again = await self._slot_of(d)
        try:
            return await self.client.send_text(scope, target, d.text, msg_id, seq)
        except PlatformError as e:
            if again and e.errcode == DUPLICATE_SEQ:  # only this delivery had the slot: its earlier try arrived
                logger.info("qq/{}: {} arrived on an earlier try (msg_seq {})", self.account.name, d.id[:8], seq)
                return ""  # its id was in the answer that was lost
            raise
