"""OneBot v11 actions, async: over a connected reverse WebSocket (matched by echo), else over the
implementation's HTTP API (`{api_url}/{action}`, Bearer token).

OneBot has no duplicate check, so an action that went out and got no answer (a timeout, the
connection closing, an unreadable answer) is Uncertain: sending it again could deliver it twice.
Only an action that never left (no connection, connect refused, the frame not written) is a
TransientError, worth retrying."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from loguru import logger

from bot.errors import PlatformError, TransientError, Uncertain

__all__ = ["OneBotClient", "Connection", "API_ROLES", "EVENT_ROLES"]

API_ROLES = {"universal", "api"}  # connections kefu may send actions over
EVENT_ROLES = {"universal", "event"}  # connections events arrive on


@dataclass(eq=False)
class Connection:
    self_id: str
    role: str  # universal, api or event (lower case)
    ws: web.WebSocketResponse
    pending: set[str] = field(default_factory=set)  # echoes of actions waiting for their answer


def _result(frame: dict[str, Any], action: str) -> dict[str, Any]:
    """`{status, retcode, data}`: the data, or PlatformError for a refusal."""
    try:
        retcode = int(frame.get("retcode", 0) or 0)
    except (TypeError, ValueError):
        retcode = -1
    if retcode == 1 or frame.get("status") == "async":  # accepted for later: no message id
        return {}
    if retcode != 0 or frame.get("status") == "failed":
        why = frame.get("wording") or frame.get("message") or frame.get("msg") or frame.get("status") or ""
        raise PlatformError(retcode, f"{action}: {why}".strip(": "), platform="qq")
    data = frame.get("data")
    return data if isinstance(data, dict) else {}


class OneBotClient:
    platform = "qq"

    def __init__(self, http: aiohttp.ClientSession, api_url: str, access_token: str, timeout: float = 10.0):
        self.http = http
        self.api_url = api_url.rstrip("/")
        self.access_token = access_token
        self.timeout = timeout  # seconds an action may take, on either path
        self.connections: list[Connection] = []
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    # -- reverse WebSocket connections ---------------------------------------------

    def attach(self, conn: Connection) -> list[Connection]:
        """Register a connection; the ones it replaces (same bot, same role) are returned to close."""
        old = [c for c in self.connections if c.self_id == conn.self_id and c.role == conn.role]
        self.connections = [c for c in self.connections if c not in old] + [conn]
        return old

    def detach(self, conn: Connection) -> None:
        if conn in self.connections:
            self.connections.remove(conn)
        for echo in conn.pending:
            fut = self._waiting.pop(echo, None)
            if fut is not None and not fut.done():
                fut.set_exception(Uncertain("qq: the OneBot connection closed before the action was answered"))
        conn.pending.clear()

    def answer(self, frame: dict[str, Any]) -> bool:
        """Hand an action's answer to its caller; False when nobody waits for that echo."""
        fut = self._waiting.pop(str(frame.get("echo")), None)
        if fut is None or fut.done():
            return False
        fut.set_result(frame)
        return True

    async def close_all(self, code: int = 1001, message: bytes = b"kefu is stopping") -> None:
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=code, message=message)
            self.detach(conn)

    def _api_connection(self) -> Connection | None:
        usable = [c for c in self.connections if c.role in API_ROLES and not c.ws.closed]
        return usable[-1] if usable else None  # the newest

    # -- actions -------------------------------------------------------------------

    async def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """One action; its `data`. PlatformError for retcode != 0, Uncertain when it went out and
        no answer came, TransientError when it could not be sent."""
        conn = self._api_connection()
        if conn is not None:
            return await self._over_ws(conn, action, params)
        if self.api_url:
            return await self._over_http(action, params)
        raise TransientError("qq: no OneBot connection (reverse WebSocket) and no api_url configured")

    async def _over_ws(self, conn: Connection, action: str, params: dict[str, Any]) -> dict[str, Any]:
        echo = uuid.uuid4().hex
        text = json.dumps({"action": action, "params": params, "echo": echo}, ensure_ascii=False)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[echo] = fut
        conn.pending.add(echo)
        try:
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError, aiohttp.ClientError) as e:  # closed under us: not sent
                raise TransientError(f"qq: {action} not sent, the OneBot connection failed: {e}") from e
            try:
                frame = await asyncio.wait_for(fut, self.timeout)
            except TimeoutError as e:
                raise Uncertain(f"qq: {action} went out and got no answer within {self.timeout:g}s") from e
        finally:
            self._waiting.pop(echo, None)
            conn.pending.discard(echo)
        return _result(frame, action)

    async def _over_http(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.access_token}"} if self.access_token else {}
        url = f"{self.api_url}/{action}"
        timeout = aiohttp.ClientTimeout(total=self.timeout, connect=min(3.0, self.timeout))
        try:
            async with self.http.post(url, json=params, headers=headers, timeout=timeout) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as e:  # no connection: not sent
            raise TransientError(f"qq: {action} not sent ({type(e).__name__}: {e})") from e
        except (aiohttp.ClientError, TimeoutError) as e:  # the request went out; its answer did not come
            raise Uncertain(f"qq: {action} went out and got no answer ({type(e).__name__}: {e})") from e
        if status >= 500:  # the implementation (or a proxy before it) failed while it had the action
            raise Uncertain(f"qq: {action} went out and was answered HTTP {status}")
        if status >= 400:  # 401/403: token refused; 404: no such action
            raise PlatformError(status, f"HTTP {status} from {action}", platform=self.platform)
        try:
            frame = json.loads(body)
        except ValueError as e:
            raise Uncertain(f"qq: {action} went out and was answered with something not JSON") from e
        if not isinstance(frame, dict):
            raise Uncertain(f"qq: {action} went out and was answered {type(frame).__name__}, not an object")
        return _result(frame, action)

    async def send_private(self, user_id: str, message: list[dict[str, Any]]) -> str:
        data = await self.call("send_private_msg", {"user_id": _int(user_id), "message": message})
        return _message_id(data)

    async def send_group(self, group_id: str, message: list[dict[str, Any]]) -> str:
        data = await self.call("send_group_msg", {"group_id": _int(group_id), "message": message})
        return _message_id(data)


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise PlatformError(0, f"{value!r} is not a QQ number", platform="qq") from None


def _message_id(data: dict[str, Any]) -> str:
    mid = data.get("message_id")
    if mid is None:
        logger.info("qq: the OneBot implementation gave no message_id; quotes of this message cannot be mapped")
        return ""
    return str(mid)
