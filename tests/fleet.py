"""Real `kefu run` processes against the emulated platforms, for the fault-injection tests.

The processes are started exactly as an admin starts kefu (`python -m bot.cli run --config`);
the test drives them through their webhooks with callbacks signed and encrypted by wechatpy,
retrying a refused or cut-off callback the way the platform does, and reads the outcome at
the emulators and in storage.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from adapters.sandbox import Sandbox
from adapters.wechat.emulator import WeChatPusher
from adapters.wecom.emulator import APP_SEND, WeComPusher
from bench.procs import Child, free_port, start_child

__all__ = ["Fleet", "MARK", "secrets_in"]

ROOT = Path(__file__).resolve().parent.parent
MARK = re.compile(r"\bc(\d+)-m(\d+)\b")
EVERY_DAY = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@dataclass
class Fleet:
    storage: str
    bus: str
    workdir: Path
    sb: Sandbox = field(init=False)
    children: dict[str, Child] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    refused: int = 0  # callbacks answered with an error (then retried)
    cut_off: int = 0  # callbacks whose connection failed or broke (then retried)

    def __post_init__(self) -> None:
        self.sb = Sandbox(storage=self.storage, bus=self.bus)
        self.http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fleet:
        await self.sb.wechat.start()
        await self.sb.wecom.start()
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for child in self.children.values():
            await child.stop()
        if self.http:
            await self.http.close()
        await self.sb.wechat.stop()
        await self.sb.wecom.stop()

    # -- processes -------------------------------------------------------------------

    def config(self, port: int) -> dict[str, Any]:
        cfg = self.sb.config_dict()
        cfg["server"]["port"] = port
        cfg["agents"] = [{"name": n, "ids": {"desk": uid}, "capacity": 1000} for n, uid in self.sb.agents.items()]
        # every message takes the same path whenever the suite runs: open around the clock,
        # nobody goes idle, no SLA timer fires, no flood limit for a customer writing fast
        cfg.update(
            schedule={"weekly": EVERY_DAY},
            presence={"idle_offline": 0},
            sla={"first_response": "1d", "escalate_after": 0},
            flood={"max_messages": 100_000},
            timers={"tick": 0.2},
        )
        return cfg

    async def start(self, name: str, *args: str) -> Child:
        port = self.ports.setdefault(name, free_port())
        path = self.workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(self.config(port), allow_unicode=True), encoding="utf-8")
        log = self.workdir / f"{name}.{len([p for p in self.workdir.glob(f'{name}.*.log')])}.log"
        argv = [sys.executable, "-m", "bot.cli", "run", "--config", str(path), *args]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.children[name] = await start_child(name, argv, port=port, core=None, log_path=log, cwd=ROOT, env=env)
        return self.children[name]

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown, nothing finished, nothing released."""
        self.children[name].proc.send_signal(signal.SIGKILL)

    async def wait_dead(self, name: str) -> None:
        await self.children[name].proc.wait()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.workdir.glob("*.log")))

    # -- traffic ---------------------------------------------------------------------

    def customer(self, name: str) -> WeChatPusher:
        sb = self.sb
        return WeChatPusher(f"http://127.0.0.1:{self.ports[name]}/wechat/mp", sb.wx_token, sb.wechat.app_id, sb.wx_key)

    def desk(self, name: str) -> WeComPusher:
        sb = self.sb
        url = f"http://127.0.0.1:{self.ports[name]}/wecom/desk"
        return WeComPusher(url, sb.wc_token, sb.wc_key, sb.wecom.corp_id, sb.wecom.agent_id)

    async def agents_online(self, via: str, timeout: float = 20.0) -> None:
        for k, user_id in enumerate(self.sb.agents.values()):
            pusher = self.desk(via)
            status, _ = await pusher.post(self.http, pusher.text_xml(user_id, "上线", 990_000_000 + k))
            assert status == 200
        await self.sb.wecom.wait_for(APP_SEND, len(self.sb.agents), timeout)

    async def deliver(self, signed: tuple[dict[str, str], bytes], via: list[str], timeout: float = 90.0) -> int:
        """Post one callback as the platform does: on an error or a broken connection, post the
        same request again (to the next process, as a load balancer would) until it is taken.
        The number of attempts it took."""
        assert self.http is not None
        query, body = signed
        end = time.monotonic() + timeout
        attempt = 0
        while True:
            name = via[attempt % len(via)]
            attempt += 1
            url = f"http://127.0.0.1:{self.ports[name]}/wechat/mp"
            try:
                async with self.http.post(url, params=query, data=body, headers={"Content-Type": "text/xml"}) as r:
                    text = await r.text()
                    if r.status == 200 and text == "success":
                        return attempt
                    self.refused += 1
            except (aiohttp.ClientError, TimeoutError):
                self.cut_off += 1
            if time.monotonic() > end:
                raise TimeoutError(f"a callback was not taken within {timeout:.0f}s ({attempt} attempts)")
            await asyncio.sleep(0.2)

    # -- outcome ---------------------------------------------------------------------

    def relays(self) -> list[tuple[int, int]]:
        """(customer, message) of every relay the agents received, in the order they arrived."""
        out = []
        for call in self.sb.wecom.sent(APP_SEND):
            m = MARK.search(str(call.body.get("text", {}).get("content", "")))
            if m:
                out.append((int(m.group(1)), int(m.group(2))))
        return out

    async def wait_relays(self, count: int, timeout: float) -> list[tuple[int, int]]:
        end = time.monotonic() + timeout
        while len(set(self.relays())) < count and time.monotonic() < end:  # noqa: ASYNC110 (bounded poll)
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # anything sent twice would arrive about now
        return self.relays()


def check_exactly_once_in_order(relays: list[tuple[int, int]], customers: int, per_customer: int) -> None:
    counts = Counter(relays)
    doubled = {k: n for k, n in counts.items() if n > 1}
    missing = {(c, i) for c in range(customers) for i in range(per_customer)} - set(counts)
    assert not doubled, f"relayed more than once: {sorted(doubled.items())[:10]}"
    assert not missing, f"never relayed ({len(missing)}): {sorted(missing)[:10]}"
    by_customer: dict[int, list[int]] = defaultdict(list)
    for c, i in relays:
        by_customer[c].append(i)
    out_of_order = [c for c, seq in by_customer.items() if seq != sorted(seq)]
    assert not out_of_order, f"customers whose messages reached the desk out of order: {out_of_order[:10]}"


def secrets_in(text: str, sb: Sandbox) -> list[str]:
    """The configured secrets that appear in `text` (there must be none)."""
    secrets = [sb.wechat.app_secret, sb.wecom.secret, sb.wx_token, sb.wc_token, sb.wx_key, sb.wc_key]
    return [s for s in secrets if s and s in text]
