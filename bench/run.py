#!/usr/bin/env python3
"""kefu's benchmark (issue 22): what a desk feels, in one command on 127.0.0.1.

    python bench/run.py          # the full run, under 5 minutes on 2 cores
    python bench/run.py --quick  # 20-25 s here: what tests/test_bench_smoke.py runs

kefu runs as `python -m bot.cli run --config FILE` pinned to one core; this process (the load
generator and the emulated WeChat and WeCom APIs) pins itself to the other. Writes
results.json and RESULTS.md into --out (bench/ by default); see bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.httpload import LoadResult, closed_loop, open_loop, percentile  # noqa: E402
from bench.kefu_side import (  # noqa: E402
    Callbacks,
    Emulators,
    EnginePair,
    agents_online,
    create_pg_database,
    drop_pg_database,
    partitions_split,
    seed_open_conversations,
    start_kefu,
)
from bench.nonebot_side import VENV, FakeOneBot, NoneBotEvents, ensure_venv, start_nonebot  # noqa: E402
from bench.procs import Child, cores, cpu_seconds, free_port, pin_self, rss_mib, start_child  # noqa: E402
from bench.verdicts import write_markdown  # noqa: E402

ENGINES = {"embedded": "memory+sqlite", "redis_pg": "redis+postgres"}


@dataclass(frozen=True)
class Sizes:
    latency_s: float  # the heavy desk's load lasts this long
    customers: int  # who write during the latency and burst runs
    burst: int  # callbacks as fast as the generator goes
    throughput: int  # callbacks of a closed-loop run, per server
    growth: tuple[int, int]  # open conversations seeded: few, many
    growth_msgs: int  # per growth run, and per scale-out run
    idle_s: float
    settle_s: float  # after start-up, before the idle sample


FULL = Sizes(30.0, 1000, 5000, 3000, (100, 100_000), 1500, 20.0, 3.0)
QUICK = Sizes(1.0, 50, 200, 200, (100, 2000), 100, 0.5, 0.3)
CUSTOMER_RATE, AGENT_RATE = 100.0, 30.0  # a heavy desk: messages a second each way
CONCURRENCY = 32  # closed-loop connections for throughput, growth and scale-out
BURST_CONNECTIONS = 128


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


async def wait_for(count: Callable[[], int], target: int, *, stall: float = 15.0) -> bool:
    """Wait until count() reaches target; False once it has not moved for `stall` seconds."""
    last, since = count(), time.monotonic()
    while (now := count()) < target:
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > stall:
            return False
        await asyncio.sleep(0.02)
    return True


@dataclass
class Bench:
    sizes: Sizes
    workdir: Path
    emu: Emulators
    server_core: int | None
    second_core: int | None
    pairs: dict[str, EnginePair]
    quick: bool


async def spawn(b: Bench, children: list[Child], bus: str, storage: str, label: str) -> None:
    """One more kefu process on the same bus and storage (the second on the load's core)."""
    core, name = b.server_core if not children else b.second_core, f"{label}-p{len(children) + 1}"
    child = await start_kefu(
        b.emu, name=name, port=free_port(), bus=bus, storage=storage, core=core, workdir=b.workdir, log_level="INFO"
    )
    children.append(child)


@asynccontextmanager
async def kefu(
    b: Bench, engine: str, *, seed: int = 0, warm: int = 0, label: str = ""
) -> AsyncIterator[tuple[list[Child], str, str]]:
    """Fresh storage (seeded with `seed` open conversations), a kefu process, agents online, and
    `warm` customers' first messages relayed (their conversations open): (processes, bus, storage)."""
    pair = b.pairs[engine]
    bus, storage = await pair.fresh()
    if seed:
        log(f"  seeding {seed:,} open conversations")
        await seed_open_conversations(storage, seed)
    children: list[Child] = []
    try:
        await spawn(b, children, bus, storage, label or engine)
        b.emu.reset()
        await agents_online(b.emu, children[0].port)
        if warm:
            reqs = Callbacks.build(b.emu, "warm", warm, warm, 700_000_000).requests([c.port for c in children])
            res = await closed_loop(reqs, 16, time_limit=120)
            await wait_for(lambda: b.emu.relayed("warm"), res.ok)
        yield children, bus, storage
    finally:
        for c in children:
            await c.stop()
        await pair.cleanup_redis()


def cpu(children: list[Child]) -> float:
    return sum(cpu_seconds(c.pid) for c in children)


def trip_ms(res: LoadResult, arrived: dict[int, float]) -> list[float]:
    """Seconds from each request's (scheduled) send to its message reaching the other platform."""
    return [arrived[i] - sent for i, sent in res.sent_at.items() if i in arrived]


async def phase_desk(b: Bench, engine: str, out: dict[str, Any]) -> float:
    """Latency at the heavy desk's load, then the burst, then closed-loop throughput, on one
    kefu; returns its throughput."""
    s, emu = b.sizes, b.emu
    async with kefu(b, engine, warm=s.customers) as (children, _, _):
        port = children[0].port
        tickets = [emu.wecom.tickets[i] for i in sorted(emu.wecom.tickets)]
        n_in, n_out = int(CUSTOMER_RATE * s.latency_s), int(AGENT_RATE * s.latency_s)
        customer = Callbacks.build(emu, "bench", n_in, s.customers, 1_000_000_000).requests([port])
        agent = Callbacks.replies(emu, port, tickets, n_out).requests([port])
        emu.reset()
        log(f"latency {engine}: {CUSTOMER_RATE:.0f} msg/s from {s.customers} customers + {AGENT_RATE:.0f} replies/s")
        cpu0 = cpu(children)
        res_in, res_out = await asyncio.gather(
            open_loop(customer, CUSTOMER_RATE, duration=s.latency_s),
            open_loop(agent, AGENT_RATE, duration=s.latency_s),
        )
        await wait_for(emu.relayed, res_in.ok)
        await wait_for(emu.answered, res_out.ok)
        used = cpu(children) - cpu0
        to_agent, to_customer = (
            trip_ms(res_in, emu.wecom.arrived["bench"]),
            trip_ms(res_out, emu.wechat.arrived["reply"]),
        )
        out["latency"][engine] = {
            "to_agent_p50_ms": ms(percentile(to_agent, 50)),
            "to_agent_p99_ms": ms(percentile(to_agent, 99)),
            "to_customer_p50_ms": ms(percentile(to_customer, 50)),
            "to_customer_p99_ms": ms(percentile(to_customer, 99)),
            "cpu_ms_per_msg": round(used * 1000 / max(len(to_agent) + len(to_customer), 1), 3),
        }
        log(f"  {out['latency'][engine]}; relayed {len(to_agent)}/{n_in}, answered {len(to_customer)}/{n_out}")

        burst = Callbacks.build(emu, "bench", s.burst, s.customers, 1_100_000_000).requests([port])
        emu.reset()
        log(f"burst {engine}: {s.burst} callbacks, {BURST_CONNECTIONS} connections")
        res = await closed_loop(burst, BURST_CONNECTIONS, time_limit=120)
        await wait_for(emu.relayed, res.ok, stall=20)
        arrived = emu.wecom.arrived["bench"]
        out["burst"][engine] = {
            "ack_p99_ms": ms(percentile(res.latencies, 99)),
            "failed_acks": s.burst - res.ok,
            "lost": res.ok - len(arrived),
            "drain_s": round(max(arrived.values(), default=res.first_send) - res.first_send, 2),
        }
        log(f"  {out['burst'][engine]}")

        emu.reset()
        rate, per_msg = await closed_rate(b, children, s.throughput)
        log(f"throughput {engine}: {rate:.0f} msg/s end to end, {per_msg} ms CPU/msg")
        return rate


async def closed_rate(b: Bench, children: list[Child], n: int, who: str = "o") -> tuple[float, float]:
    """n callbacks from n/4 new customers at CONCURRENCY, spread over the processes: end-to-end
    msg/s, kefu's CPU ms per message."""
    emu, first = b.emu, 1_200_000_000 if who == "o" else 1_300_000_000
    reqs = Callbacks.build(emu, "bench", n, max(n // 4, 1), first, who).requests([c.port for c in children])
    emu.reset()
    cpu0 = cpu(children)
    res = await closed_loop(reqs, CONCURRENCY, time_limit=120)
    await wait_for(emu.relayed, res.ok)
    arrived = emu.wecom.arrived["bench"]
    last = max(arrived.values(), default=res.first_send + 1)
    per_msg = (cpu(children) - cpu0) * 1000 / max(len(arrived), 1)
    return round(len(arrived) / max(last - res.first_send, 1e-9), 1), round(per_msg, 3)


@asynccontextmanager
async def bare_relay(b: Bench) -> AsyncIterator[Child]:
    emu, port = b.emu, free_port()
    wc = emu.wecom
    argv = [sys.executable, str(ROOT / "bench" / "relay.py"), str(port), emu.wx_token, emu.wx_key]
    argv += [emu.wechat.app_id, str(b.workdir / "relay.db"), wc.base_url, wc.corp_id, wc.secret, str(wc.agent_id)]
    child = await start_child("relay", argv, port=port, core=b.server_core, log_path=b.workdir / "relay.log", cwd=ROOT)
    try:
        yield child
    finally:
        await child.stop()


async def phase_bare(b: Bench) -> float:
    async with bare_relay(b) as child:
        rate, _ = await closed_rate(b, [child], b.sizes.throughput)
    log(f"bare relay: {rate:.0f} msg/s end to end")
    return rate


async def phase_nonebot(b: Bench, out: dict[str, Any]) -> float | None:
    """NoneBot2 + OneBot v11: idle RSS, then sustained msg/s (its venv is made in a full run only)."""
    if b.quick and not (VENV / "bin" / "python").exists():
        log("NoneBot2: skipped (--quick without bench/.venv-nonebot)")
        return None
    python = await ensure_venv()
    api = FakeOneBot()
    await api.start()
    port = free_port()
    child = await start_nonebot(python, port=port, api_port=api.port, core=b.server_core, workdir=b.workdir)
    try:
        await asyncio.sleep(1.0)
        out["nonebot2"]["idle_rss_mib"] = round(rss_mib(child.pid), 1)
        n = b.sizes.throughput
        reqs = NoneBotEvents.build(n, max(n // 4, 1)).requests(port)
        res = await closed_loop(reqs, CONCURRENCY, time_limit=120)
        await wait_for(lambda: len(api.arrived), res.ok)
        last = max(api.arrived.values(), default=res.first_send + 1)
        rate = round(len(api.arrived) / max(last - res.first_send, 1e-9), 1)
    finally:
        await child.stop()
        await api.stop()
    out["nonebot2"]["msg_per_s"] = rate
    log(f"NoneBot2: {rate:.0f} msg/s end to end, idle RSS {out['nonebot2']['idle_rss_mib']} MiB")
    return rate


async def phase_growth(b: Bench, engine: str, out: dict[str, Any]) -> None:
    """Cost per message with few and with many open conversations. The embedded default's idle
    figures come from the same instances (nothing to do after start-up, then the seeded one);
    on Redis + PostgreSQL, a second process then joins the one with few (scale-out)."""
    s, cost = b.sizes, []
    for seed in s.growth:
        log(f"growth {engine}: {seed:,} open conversations, {s.growth_msgs} callbacks")
        async with kefu(b, engine, seed=seed, label=f"growth-{engine}-{seed}") as (children, bus, storage):
            if engine == "embedded":
                await asyncio.sleep(s.settle_s)
                if seed == s.growth[0]:
                    c0, t0 = cpu(children), time.monotonic()
                    await asyncio.sleep(s.idle_s)
                    out["idle"]["cpu_ms_per_s"] = round((cpu(children) - c0) * 1000 / (time.monotonic() - t0), 2)
                    out["idle"]["rss_mib"] = round(rss_mib(children[0].pid), 1)
                else:
                    out["idle"]["rss_mib_100k_open"] = round(rss_mib(children[0].pid), 1)
            cost.append((await closed_rate(b, children, s.growth_msgs))[1])
            log(f"  {cost[-1]} ms CPU/msg")
            if engine == "redis_pg" and seed == s.growth[0]:
                await phase_scale(b, children, bus, storage, cost[0], out)
    out["growth"][engine] = {"cost_ratio_100k_vs_100": round(cost[1] / max(cost[0], 1e-9), 3)}


async def phase_scale(b: Bench, children: list[Child], bus: str, storage: str, one: float, out: dict[str, Any]) -> None:
    """kefu's CPU per message (all processes' CPU time) with two processes on Redis against one
    (`one`, just measured on the same storage): the same load, from customers of its own."""
    await spawn(b, children, bus, storage, "scale")
    await partitions_split(bus, 2)
    _, two = await closed_rate(b, children, b.sizes.growth_msgs, who="s")
    log(f"scale-out: 2 processes {two} ms CPU/msg, 1 process {one}")
    out["scale_out"]["cpu_per_msg_ratio_2_vs_1"] = round(two / max(one, 1e-9), 3)


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


async def run(quick: bool) -> dict[str, Any]:
    server_core, load_core = cores()
    workdir = Path(tempfile.mkdtemp(prefix="kefu-bench-"))
    emu = Emulators()
    out: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        "commit": commit(),
        "cores": os.cpu_count(),
        **{k: {} for k in ("latency", "burst", "throughput", "idle", "nonebot2", "growth", "scale_out")},
    }
    out["nonebot2"] = {"msg_per_s": None, "idle_rss_mib": None}
    pg_url = await create_pg_database()
    pairs = {k: EnginePair(v, workdir, pg_url=pg_url) for k, v in ENGINES.items()}
    b = Bench(QUICK if quick else FULL, workdir, emu, server_core, load_core, pairs, quick)
    pin_self(load_core)
    await emu.start()
    try:
        rates = {engine: await phase_desk(b, engine, out) for engine in ENGINES}
        bare = await phase_bare(b)
        nonebot = await phase_nonebot(b, out)
        for engine, rate in rates.items():
            out["throughput"][engine] = {
                "msg_per_s": rate,
                "vs_nonebot2": round(rate / nonebot, 2) if nonebot else None,
                "vs_bare_relay": round(rate / bare, 2),
            }
        for engine in ENGINES:
            await phase_growth(b, engine, out)
    finally:
        await emu.stop()
        for pair in pairs.values():
            await pair.cleanup_redis()
        await drop_pg_database(pg_url)
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="kefu's benchmark (bench/README.md)")
    p.add_argument("--quick", action="store_true", help="small loads, 20-25 s here (what the tests run)")
    p.add_argument("--out", default=str(ROOT / "bench"), help="where results.json and RESULTS.md go")
    args = p.parse_args(argv)
    started = time.monotonic()
    results = asyncio.run(run(args.quick))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    write_markdown(results, out / "RESULTS.md", quick=args.quick)
    log(f"done in {time.monotonic() - started:.0f}s; wrote {out}/results.json and RESULTS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
