"""What the console uses of the running kefu (bot.app.Runtime is one): named here, so the console
depends on a shape, not on the runtime's insides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web

from bot.adapter import Adapter
from bot.callbacks import Callbacks
from bot.clock import Clock
from bot.config import Config
from bot.directory import Directory
from bot.model import Message
from bot.state import State
from bot.store import Store

__all__ = ["ConsoleHost", "HOST", "host_of"]


class ConsoleHost(Protocol):
    config: Config
    store: Store
    state: State
    clock: Clock
    directory: Directory
    adapters: Mapping[str, Adapter]
    callbacks: Callbacks

    async def ingest(self, messages: list[Message], guard: Any = None) -> int: ...

    async def retry_dead_letters(self) -> int: ...


HOST = web.AppKey("console_host", ConsoleHost)


def host_of(request: web.Request) -> ConsoleHost:
    return request.config_dict[HOST]
