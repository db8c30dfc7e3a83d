"""DingTalk Stream mode (dingtalk-stream): kefu keeps a WebSocket open to DingTalk instead of serving a
callback URL.

From the SDK we use the credential, the frame classes, the handler classes (an ack is built after
`process` returns) and the connection request's shape. Its `start()` loop is replaced, because it calls the
blocking `requests` on the event loop without a timeout, reads the endpoint from a class attribute
fixed at import (DINGTALK_OPENAPI_ENDPOINT), sleeps fixed times between attempts, leaves its tasks
unreferenced and cannot be stopped. Ours: the connection request on aiohttp with a timeout, a per-instance endpoint,
exponential backoff with jitter, frames handled in order on the read loop, and `stop()`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import platform
import random
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import websockets
from dingtalk_stream import (
    AckMessage,
    CallbackHandler,
    CallbackMessage,
    ChatbotMessage,
    Credential,
    DingTalkStreamClient,
    EventMessage,
    SystemMessage,
)
from dingtalk_stream.version import VERSION_STRING
from loguru import logger

from adapters.dingtalk import inbound
from bot.errors import BadRequest, BusUnavailable
from bot.model import Message

__all__ = ["StreamClient", "ChatbotCallback", "OPEN_PATH", "TOPIC"]

OPEN_PATH = "/v1.0/gateway/connections/open"
TOPIC: str = ChatbotMessage.TOPIC  # robot messages
Take = Callable[[Message], Awaitable[None]]


class ChatbotCallback(CallbackHandler):
    """Robot messages (topic /v1.0/im/bot/messages/get): acknowledged OK only once durably on the bus."""

    def __init__(self, account_name: str, take: Take):
        super().__init__()
        self.account_name = account_name
        self.take = take

    async def process(self, message: CallbackMessage) -> tuple[int, str]:
        try:
            msg = inbound.to_message(self.account_name, json.dumps(message.data).encode())
        except BadRequest as e:
            logger.warning("dingtalk/{}: stream frame {} refused: {}", self.account_name, message.headers.message_id, e)
            return AckMessage.STATUS_BAD_REQUEST, str(e)
        try:
            await self.take(msg)
        except BusUnavailable as e:  # not OK: DingTalk delivers the frame again
            logger.error("dingtalk/{}: message {} not stored: {}", self.account_name, msg.external_id, e)
            return AckMessage.STATUS_SYSTEM_EXCEPTION, "temporarily unavailable"
        except Exception:
            logger.exception("dingtalk/{}: message {} failed", self.account_name, msg.external_id)
            return AckMessage.STATUS_SYSTEM_EXCEPTION, "internal error"
        return AckMessage.STATUS_OK, "OK"


class StreamClient(DingTalkStreamClient):
    """One Stream connection, kept open until `stop()`."""

    backoff_base = 1.0  # seconds before reconnecting; doubles per failed attempt, times 0.5-1.5
    backoff_cap = 60.0
    open_timeout = 10.0  # the connection request and the WebSocket handshake
    ping_interval = 60.0

    def __init__(self, app_key: str, app_secret: str, endpoint: str, name: str):
        super().__init__(Credential(app_key, app_secret), logger=logging.getLogger("dingtalk_stream.client"))
        self.open_connection_api = endpoint.rstrip("/") + OPEN_PATH
        self.name = name
        self.connections = 0  # WebSockets opened so far
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def open_connection_async(self) -> dict[str, Any]:
        """Ask for an endpoint and ticket (the SDK does this with blocking `requests`; here aiohttp)."""
        topics = [{"type": "EVENT", "topic": "*"}] if self._is_event_required else []
        topics += [{"type": "CALLBACK", "topic": t} for t in self.callback_handler_map]
        body = {
            "clientId": self.credential.client_id,
            "clientSecret": self.credential.client_secret,
            "subscriptions": topics,
            "ua": f"dingtalk-sdk-python/v{VERSION_STRING}-union",
            "localIp": await asyncio.to_thread(self.get_host_ip),  # a socket call: off the loop
        }
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"DingTalkStream/1.0 SDK/{VERSION_STRING} Python/{platform.python_version()} (kefu)",
        }
        timeout = aiohttp.ClientTimeout(total=self.open_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async with http.post(self.open_connection_api, data=json.dumps(body), headers=headers) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    raise ConnectionError(f"HTTP {resp.status} opening the connection: {text[:200]}")
        try:
            data = json.loads(text)
        except ValueError:
            raise ConnectionError("the connection answer is not JSON") from None
        if not isinstance(data, dict) or not data.get("endpoint") or not data.get("ticket"):
            raise ConnectionError("the connection answer has no endpoint and ticket")
        return data

    # -- lifecycle -----------------------------------------------------------------

    def launch(self) -> None:
        """Connect in the background (returns at once)."""
        self._stopping = False
        self._task = asyncio.create_task(self.start(), name=f"dingtalk-stream:{self.name}")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def start(self) -> None:
        """Stay connected until stopped: reconnect with exponential backoff and jitter."""
        self.pre_start()
        failures = 0
        while not self._stopping:
            try:
                conn = await self.open_connection_async()
                uri = f"{conn['endpoint']}?ticket={quote_plus(str(conn['ticket']))}"
                async with websockets.connect(
                    uri, open_timeout=self.open_timeout, ping_interval=self.ping_interval, close_timeout=2
                ) as ws:
                    self.websocket = ws
                    self.connections += 1
                    failures = 0
                    logger.info("dingtalk/{}: stream connected", self.name)
                    async for raw in ws:
                        if await self._route(ws, raw):
                            break  # DingTalk asked us to reconnect
                logger.info("dingtalk/{}: stream connection closed; reconnecting", self.name)
            except Exception as e:  # network, HTTP, handshake: try again later
                failures += 1
                logger.warning("dingtalk/{}: stream connection failed ({}): {}", self.name, failures, e)
            finally:
                self.websocket = None
            delay = min(self.backoff_cap, self.backoff_base * 2 ** min(failures, 16)) * (0.5 + random.random())
            await asyncio.sleep(delay)

    # -- frames --------------------------------------------------------------------

    async def _route(self, ws: Any, raw: str | bytes) -> bool:
        """Handle one frame and send its ack; True when DingTalk asks to reconnect."""
        try:
            frame = json.loads(raw)
        except (ValueError, RecursionError):
            logger.warning("dingtalk/{}: a stream frame that is not JSON was dropped", self.name)
            return False
        headers = frame.get("headers") if isinstance(frame, dict) else None
        mid = headers.get("messageId") if isinstance(headers, dict) else None
        reconnect = False
        try:
            kind = frame.get("type", "")
            if kind == CallbackMessage.TYPE:
                cb = CallbackMessage.from_dict(frame)
                handler = self.callback_handler_map.get(cb.headers.topic)
                ack = (
                    await handler.raw_process(cb)
                    if handler
                    else _ack(mid, AckMessage.STATUS_NOT_IMPLEMENT, "no handler")
                )
            elif kind == SystemMessage.TYPE:
                sm = SystemMessage.from_dict(frame)
                ack = await self.system_handler.raw_process(sm)  # ping and the rest: echo, OK
                reconnect = sm.headers.topic == SystemMessage.TOPIC_DISCONNECT
            elif kind == EventMessage.TYPE:
                ack = await self.event_handler.raw_process(EventMessage.from_dict(frame))
            else:
                logger.warning("dingtalk/{}: unknown stream frame type {!r}", self.name, kind)
                return False
        except (ValueError, TypeError, AttributeError) as e:  # e.g. `data` that is not JSON
            logger.warning("dingtalk/{}: malformed stream frame {}: {}", self.name, mid, e)
            if not mid:
                return False
            ack = _ack(mid, AckMessage.STATUS_BAD_REQUEST, "malformed frame")
        await ws.send(json.dumps(ack.to_dict()))
        return reconnect


def _ack(message_id: str | None, code: int, message: str) -> AckMessage:
    ack = AckMessage()
    ack.code = code
    ack.headers.message_id = message_id
    ack.headers.content_type = "application/json"
    ack.message = message
    ack.data = {"response": message}
    return ack
