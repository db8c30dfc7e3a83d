"""Baseline (b): NoneBot2 with the OneBot v11 adapter, a real peer doing the same job —
receive an event over HTTP, run a matcher, send one message back through the API.

NoneBot lives in its own virtual environment (bench/.venv-nonebot), created here; it is not a
dependency of kefu. Its API calls go to `FakeOneBot`, an aiohttp app in the bench process that
answers like a OneBot v11 implementation and notes when each reply arrived.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from bench.httpload import Request, request_bytes
from bench.procs import Child, start_child

__all__ = ["PINS", "ensure_venv", "FakeOneBot", "NoneBotEvents", "start_nonebot", "SELF_ID"]

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".venv-nonebot"
PINS = ["nonebot2[fastapi,aiohttp]==2.5.0", "nonebot-adapter-onebot==2.4.6"]
SELF_ID = "10001"
TEXT = "bench-{i} 您好,我上周买的东西还没到,麻烦帮我查一下物流"

BOT_PY = '''\
"""The NoneBot2 peer of the kefu benchmark: one matcher that answers every message once."""

import nonebot
from nonebot import on_message
from nonebot.adapters.onebot.v11 import Adapter, Bot, MessageEvent

nonebot.init()
nonebot.get_driver().register_adapter(Adapter)

answer = on_message()


@answer.handle()
async def _(bot: Bot, event: MessageEvent) -> None:
    await bot.send(event, f"收到 #{event.message_id}")


if __name__ == "__main__":
    nonebot.run()
'''


async def ensure_venv() -> Path:
    """bench/.venv-nonebot with the pinned NoneBot2 and adapter (made on first use); its python."""
    python, marker, wanted = VENV / "bin" / "python", VENV / ".bench-pins", "\n".join(PINS)
    if not (marker.exists() and marker.read_text() == wanted):
        if not python.exists():
            await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", *PINS]
        await asyncio.to_thread(subprocess.run, pip, check=True, timeout=600)
        marker.write_text(wanted)
    return python


@dataclass
class FakeOneBot:
    """A OneBot v11 HTTP API that accepts every call and notes the replies' arrival (time.time())."""

    arrived: dict[int, float] = field(default_factory=dict)
    calls: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None

    async def start(self) -> int:
        app = web.Application()
        app.router.add_post("/{action}", self._api)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self.port

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def reset(self) -> None:
        self.arrived.clear()
        self.calls = 0

    async def _api(self, request: web.Request) -> web.Response:
        self.calls += 1
        data = await request.json()
        if request.match_info["action"] in ("send_msg", "send_private_msg"):
            m = re.search(r"#(\d+)", json.dumps(data.get("message"), ensure_ascii=False))
            if m:
                self.arrived.setdefault(int(m.group(1)), time.time())
        return web.json_response({"status": "ok", "retcode": 0, "data": {"message_id": 1}})


@dataclass
class NoneBotEvents:
    """OneBot v11 private-message events, the same texts and customer mix as kefu's callbacks."""

    bodies: list[bytes]

    @classmethod
    def build(cls, n: int, customers: int, first_id: int = 0) -> NoneBotEvents:
        bodies = []
        now = int(time.time())
        for k in range(n):
            i = first_id + k
            user = 200_000 + k % customers
            text = TEXT.format(i=i)
            event = {
                "time": now,
                "self_id": int(SELF_ID),
                "post_type": "message",
                "message_type": "private",
                "sub_type": "friend",
                "message_id": i,
                "user_id": user,
                "message": [{"type": "text", "data": {"text": text}}],
                "raw_message": text,
                "font": 0,
                "sender": {"user_id": user, "nickname": f"客户{user % 10000:04d}", "sex": "unknown", "age": 0},
            }
            bodies.append(json.dumps(event, ensure_ascii=False).encode())
        return cls(bodies)

    def requests(self, port: int) -> list[Request]:
        headers = {"Content-Type": "application/json", "X-Self-ID": SELF_ID}
        return [(port, request_bytes(port, "/onebot/v11/http", b, headers)) for b in self.bodies]


async def start_nonebot(
    python: Path,
    *,
    port: int,
    api_port: int,
    core: int | None,
    workdir: Path,
) -> Child:
    """Write the bot and its .env into `workdir` and start it (uvicorn via nonebot.run())."""
    botdir = workdir / "nonebot"
    botdir.mkdir(exist_ok=True)
    (botdir / "bot.py").write_text(BOT_PY, encoding="utf-8")
    env_lines = [
        "ENVIRONMENT=prod",
        "DRIVER=~fastapi+~aiohttp",
        "HOST=127.0.0.1",
        f"PORT={port}",
        "ONEBOT_ACCESS_TOKEN=",
        f'ONEBOT_API_ROOTS={{"{SELF_ID}": "http://127.0.0.1:{api_port}/"}}',
    ]
    (botdir / ".env").write_text("\n".join(env_lines) + "\n", encoding="utf-8")
    (botdir / ".env.prod").write_text("", encoding="utf-8")
    log_path = workdir / "nonebot.log"
    return await start_child("nonebot", [str(python), "bot.py"], port=port, core=core, log_path=log_path, cwd=botdir)
