"""kefu under test: its config, the emulated platforms it talks to (and when each message reached
them), the callbacks it is sent, its storage (fresh, or seeded with open conversations)."""

from __future__ import annotations

import asyncio
import os
import random
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml
from aiohttp import web

from adapters.wechat.emulator import CS_SEND, WeChatEmulator, WeChatPusher, new_aes_key
from adapters.wecom.emulator import APP_SEND, WeComEmulator, WeComPusher
from bench.httpload import Request, one_request, request_bytes
from bench.procs import Child, start_child

__all__ = [
    "AGENTS",
    "Emulators",
    "Callbacks",
    "EnginePair",
    "start_kefu",
    "agents_online",
    "seed_open_conversations",
    "partitions_split",
    "create_pg_database",
    "drop_pg_database",
]

ROOT = Path(__file__).resolve().parent.parent
AGENTS = {"小李": "lixiaoli", "小王": "wangxiaowang"}
CAPACITY = 10_000_000  # every new conversation is assigned, however many are open
MARK = re.compile(r"\b(bench|warm|reply)-(\d+)\b")
TICKET = re.compile(r"^#(\d+) ")
TEXT = "{tag}-{i} 您好,我上周买的东西还没到,麻烦帮我查一下物流"


class _Counting:
    """Mixed into an emulator: when each marked message reached it (time.time()), by index."""

    counted = ""  # the API path whose calls are counted

    def _init_counts(self) -> None:
        self.arrived: dict[str, dict[int, float]] = {"bench": {}, "warm": {}, "reply": {}}
        self.tickets: dict[int, tuple[int, str]] = {}  # warm message i -> (its ticket, the agent it went to)

    def reset(self) -> None:
        self.forget()  # type: ignore[attr-defined]
        self._init_counts()

    def _count(self, call: Any) -> None:
        body = call.body if isinstance(call.body, dict) else {}
        content = str((body.get("text") or {}).get("content", ""))
        m = MARK.search(content)
        if m:
            self.arrived[m.group(1)].setdefault(int(m.group(2)), call.at)
            t = TICKET.match(content)
            if t and m.group(1) == "warm":
                self.tickets[int(m.group(2))] = (int(t.group(1)), str(body.get("touser", "")))

    async def record(self, request: web.Request) -> Any:
        call = await super().record(request)  # type: ignore[misc]
        if call.path == self.counted:
            self._count(call)
        return call


class BenchWeCom(_Counting, WeComEmulator):
    """Relays to agents are counted here: the end of a customer message's trip."""

    counted = APP_SEND

    def __init__(self) -> None:
        WeComEmulator.__init__(self, "ww0123456789abcdef", "wecom-app-secret-0001", 1000002)
        self._init_counts()

    def notices(self, needle: str) -> int:
        return sum(1 for c in self.sent(APP_SEND) if needle in str((c.body or {}).get("text", {}).get("content", "")))


class BenchWeChat(_Counting, WeChatEmulator):
    """Agents' replies reach customers here: the end of a reply's trip."""

    counted = CS_SEND

    def __init__(self) -> None:
        WeChatEmulator.__init__(self, "wx1234567890abcdef", "wx-app-secret-0001")
        self._init_counts()


@dataclass
class Emulators:
    wechat: BenchWeChat = field(default_factory=BenchWeChat)
    wecom: BenchWeCom = field(default_factory=BenchWeCom)
    wx_token: str = "benchtoken2026"
    wx_key: str = field(default_factory=new_aes_key)
    wc_token: str = "benchwecomtoken"
    wc_key: str = field(default_factory=new_aes_key)

    async def start(self) -> None:
        await self.wechat.start()
        await self.wecom.start()

    async def stop(self) -> None:
        await self.wechat.stop()
        await self.wecom.stop()

    def reset(self) -> None:
        self.wechat.reset()
        self.wecom.reset()

    def relayed(self, tag: str = "bench") -> int:
        return len(self.wecom.arrived[tag])

    def answered(self) -> int:
        return len(self.wechat.arrived["reply"])

    def pusher(self) -> WeChatPusher:
        return WeChatPusher("", self.wx_token, self.wechat.app_id, self.wx_key)

    def desk_pusher(self, port: int) -> WeComPusher:
        w = self.wecom
        return WeComPusher(f"http://127.0.0.1:{port}/wecom/desk", self.wc_token, self.wc_key, w.corp_id, w.agent_id)

    def kefu_config(self, port: int, storage: str, bus: str, log_level: str) -> dict[str, Any]:
        """What `kefu run` is given: the two platforms at the emulators, two agents with room for all."""
        every_day = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        return {
            "server": {"host": "127.0.0.1", "port": port},
            "storage": storage,
            "bus": bus,
            "log_level": log_level,
            "accounts": [
                {
                    "name": "mp",
                    "platform": "wechat",
                    "role": "customer",
                    "app_id": self.wechat.app_id,
                    "app_secret": self.wechat.app_secret,
                    "token": self.wx_token,
                    "encoding_aes_key": self.wx_key,
                    "api_base_url": self.wechat.base_url,
                },
                {
                    "name": "desk",
                    "platform": "wecom",
                    "role": "desk",
                    "corp_id": self.wecom.corp_id,
                    "agent_id": self.wecom.agent_id,
                    "secret": self.wecom.secret,
                    "token": self.wc_token,
                    "encoding_aes_key": self.wc_key,
                    "api_base_url": self.wecom.base_url,
                },
            ],
            "agents": [{"name": n, "ids": {"desk": uid}, "capacity": CAPACITY} for n, uid in AGENTS.items()],
            # open around the clock, nobody goes idle, no SLA timer fires during a run:
            # every message takes the same path (assigned, relayed) whenever the bench runs
            "schedule": {"weekly": every_day},
            "presence": {"idle_offline": 0},
            "sla": {"first_response": "1d", "escalate_after": 0},
        }


@dataclass
class Callbacks:
    """Safe-mode WeChat callbacks, encrypted and signed with wechatpy ahead of time."""

    tag: str
    items: list[tuple[str, bytes]]  # (path?query, encrypted body)

    @classmethod
    def build(cls, emu: Emulators, tag: str, n: int, customers: int, first_msg_id: int, who: str = "o") -> Callbacks:
        """n messages from `customers` customers in turn (o_000000, o_000001, ...)."""
        pusher = emu.pusher()
        items = []
        for i in range(n):
            xml = pusher.text_xml(f"{who}_{i % customers:06d}", TEXT.format(tag=tag, i=i), first_msg_id + i)
            query, body = pusher.signed(xml)
            items.append((f"/wechat/mp?{urlencode(query)}", body))
        return cls(tag, items)

    @classmethod
    def replies(cls, emu: Emulators, port: int, tickets: list[tuple[int, str]], n: int) -> Callbacks:
        """n agents' answers through the WeCom desk webhook, `#<ticket> text`, to the tickets in turn."""
        pusher, items = emu.desk_pusher(port), []
        for j in range(n):
            ticket, agent = tickets[j % len(tickets)]
            query, body = pusher.signed(
                pusher.text_xml(agent, f"#{ticket} reply-{j} 已为您查询,明天送达", 800_000_000 + j)
            )
            items.append((f"/wecom/desk?{urlencode(query)}", body))
        return cls("reply", items)

    def requests(self, ports: list[int]) -> list[Request]:
        """Request i goes to ports[i % len(ports)] (a round-robin balancer in front of kefu)."""
        headers = {"Content-Type": "text/xml"}
        out = []
        for i, (path, body) in enumerate(self.items):
            port = ports[i % len(ports)]
            out.append((port, request_bytes(port, path, body, headers)))
        return out


# -- storage ---------------------------------------------------------------------------


@dataclass
class EnginePair:
    """A bus + storage pair; `fresh()` gives new, empty URLs for one kefu instance."""

    name: str
    workdir: Path
    pg_url: str = ""  # the bench's own PostgreSQL database (redis+postgres only)
    redis_db: int = 14
    prefixes: list[str] = field(default_factory=list)
    _n: int = 0

    async def fresh(self) -> tuple[str, str]:
        """(bus, storage) URLs for a new kefu instance, with empty storage."""
        self._n += 1
        if self.name == "memory+sqlite":
            db = self.workdir / f"kefu-{self._n}.db"
            for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                path.unlink(missing_ok=True)
            return "memory://", f"sqlite:///{db}"
        prefix = f"bench-{uuid.uuid4().hex[:10]}:"
        self.prefixes.append(prefix)
        await reset_pg(self.pg_url)
        return f"redis://127.0.0.1:6379/{self.redis_db}?prefix={prefix}", self.pg_url

    async def cleanup_redis(self) -> None:
        """Delete every key this bench created (by its prefixes)."""
        if not self.prefixes:
            return
        import redis.asyncio as aioredis

        r = aioredis.from_url(f"redis://127.0.0.1:6379/{self.redis_db}", socket_timeout=10)
        try:
            for prefix in self.prefixes:
                keys = [k async for k in r.scan_iter(match=f"{prefix}*", count=1000)]
                for start in range(0, len(keys), 1000):
                    await r.delete(*keys[start : start + 1000])
        finally:
            await r.aclose()
        self.prefixes.clear()


async def pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect("postgres://postgres@127.0.0.1:5432/postgres", timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_pg_database() -> str:
    name = f"kefu_bench_{uuid.uuid4().hex[:10]}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


async def drop_pg_database(url: str) -> None:
    await pg_admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


async def reset_pg(url: str) -> None:
    from bot.store import Store

    store = Store(url)
    try:
        await store.drop_tables()
    finally:
        await store.close()


async def seed_open_conversations(storage: str, n: int, chunk: int = 5000) -> float:
    """Insert n open conversations, held by the agents in turn, as a long-running desk has; seconds taken."""
    from bot.store import Store

    started = time.monotonic()
    store = Store(storage)
    now, names, rnd = time.time(), list(AGENTS), random.Random(n)
    try:
        await store.create_tables()
        for start in range(0, n, chunk):
            rows = []
            for i in range(start, min(n, start + chunk)):
                created = now - rnd.uniform(60, 30 * 86400)
                rows.append(
                    {
                        "account": "mp",
                        "customer": f"o_seed_{i:07d}",
                        "customer_name": f"客户{i % 10000:04d}",
                        "status": "open",
                        "agent": names[i % len(names)],
                        "created_at": created,
                        "last_message_at": created + 30,
                        "category": "",
                        "unreachable": "",
                        "opened_by": "",
                    }
                )
            await store.insert_rows("conversations", rows)
        await store.recount_load()  # written around the Store's own bookkeeping
        if store.dialect == "postgresql":  # as a long-running desk's table is: not left to autovacuum mid-run
            async with store.db.autocommit() as conn:
                await conn.execute("VACUUM ANALYZE conversations")
    finally:
        await store.close()
    return time.monotonic() - started


# -- kefu processes --------------------------------------------------------------------


async def start_kefu(
    emu: Emulators,
    *,
    name: str,
    port: int,
    bus: str,
    storage: str,
    core: int | None,
    workdir: Path,
    log_level: str,
) -> Child:
    """`python -m bot.cli run --config FILE`, exactly as an admin runs kefu, under taskset."""
    cfg_path = workdir / f"{name}.yaml"
    cfg = emu.kefu_config(port, storage, bus, log_level)
    cfg_path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    argv = [sys.executable, "-m", "bot.cli", "run", "--config", str(cfg_path)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return await start_child(name, argv, port=port, core=core, log_path=workdir / f"{name}.log", cwd=ROOT, env=env)


async def partitions_split(bus: str, procs: int, timeout: float = 30.0) -> float:
    """Wait until `procs` kefu processes each hold their share of every topic's partitions (a
    process that joins takes its share over within a few seconds); seconds waited."""
    import redis.asyncio as aioredis

    from bot.app import _redis_url
    from bot.bus import PARTITIONS
    from bot.bus.redis import lease_key
    from bot.worker import INBOUND, OUTBOUND

    url, prefix = _redis_url(bus)
    r = aioredis.from_url(url, socket_timeout=5)
    started = time.monotonic()
    try:
        while True:
            holders = []
            for topic in (INBOUND, OUTBOUND):
                values = await r.mget([lease_key(prefix, topic, p) for p in range(PARTITIONS)])
                holders.append([v for v in values if v])
            share = PARTITIONS // procs
            if all(
                len(h) == PARTITIONS and len(set(h)) == procs and min(h.count(x) for x in set(h)) >= share
                for h in holders
            ):
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"the partitions were not split between {procs} processes in {timeout:.0f}s")
            await asyncio.sleep(0.1)
    finally:
        await r.aclose()


async def agents_online(emu: Emulators, port: int, timeout: float = 20.0) -> None:
    """Each agent writes 上线 to the WeCom app; wait until kefu has told them they are online."""
    pusher = emu.desk_pusher(port)
    for k, user_id in enumerate(AGENTS.values()):
        query, body = pusher.signed(pusher.text_xml(user_id, "上线", 990_000_000 + k))
        path = f"/wecom/desk?{urlencode(query)}"
        status, answer = await one_request(port, request_bytes(port, path, body, {"Content-Type": "text/xml"}))
        if status != 200:
            raise RuntimeError(f"agent {user_id} could not go online: HTTP {status} {answer[:200]!r}")
    end = time.monotonic() + timeout
    while emu.wecom.notices("您已上线") < len(AGENTS):
        if time.monotonic() > end:
            raise RuntimeError("kefu did not confirm the agents online in time")
        await asyncio.sleep(0.05)
