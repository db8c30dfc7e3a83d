#!/usr/bin/env python3
"""kefu's benchmark, in one run on 127.0.0.1:

    python bench/run.py                 # the full run (about 6 minutes on 2 cores)
    python bench/run.py --quick         # a few hundred messages
    python bench/run.py --smoke         # seconds, the embedded default only (what the tests run)
    python bench/run.py --skip-nonebot  # without baseline (b)

kefu runs as `python -m bot.cli run --config FILE`, pinned to one core with taskset; this
process (the load generator and the emulated WeChat and WeCom APIs) pins itself to the other.
It measures ingest (safe-mode callbacks verified, decrypted, enqueued, acknowledged), end to
end (until every message is relayed to the desk emulator and logged in the transcript), the
two baselines — (a) a bare aiohttp + wechatpy handler, (b) NoneBot2 with the OneBot v11
adapter, installed in bench/.venv-nonebot — growth with open conversations in storage, and 1
vs 2 kefu processes on Redis. Output: results.md and results.json in --out (bench/out).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import instructions, report  # noqa: E402
from bench.budget import CpuBudget  # noqa: E402
from bench.httpload import LoadResult, Request, closed_loop, open_loop, percentile  # noqa: E402
from bench.kefu_side import (  # noqa: E402
    Callbacks,
    Emulators,
    EnginePair,
    agents_online,
    create_pg_database,
    drop_pg_database,
    export_rev,
    late_wakeups,
    loop_lag,
    partitions_split,
    pg_activity,
    seed_open_conversations,
    settle_storage,
    start_kefu,
    transcript_counts,
)
from bench.nonebot_side import PINS, FakeOneBot, NoneBotEvents, ensure_venv, start_nonebot  # noqa: E402
from bench.procs import (  # noqa: E402
    Child,
    CpuWatch,
    Placement,
    cpu_seconds,
    free_port,
    peak_rss_mb,
    pin_self,
    placement,
    start_child,
)
from bench.rounds import bracket, median_round, merge_rounds  # noqa: E402

ENGINES = ("memory+sqlite", "redis+postgres")
WARM_BASE = 900_000_000  # ids of warm-up messages, apart from the measured ones
FRESH_FOR = 180.0  # seconds a prepared callback is used for (its timestamp must stay recent)


@dataclass(frozen=True)
class Sizes:
    ingest_messages: int  # per ingest run (closed loop)
    e2e_messages: int  # per end-to-end run
    concurrency: tuple[int, ...]
    warmup: int  # messages each server gets before it is measured
    per_customer: int  # messages per customer
    fixed_rate_seconds: float  # length of a fixed-rate (open loop) run
    fixed_rate_rounds: int  # kefu's run at half its best ingest rate is made this many times; the median judged
    growth: tuple[int, ...]  # open conversations seeded before a growth run
    growth_messages: int
    scaling_messages: int
    scaling_rounds: int  # budgeted scaling runs go (1, 2, 2, 1) processes this many times, each 1/this of the messages
    nonebot_messages: int
    stall: float  # an end-to-end wait ends after this long without progress
    run_limit: float  # no load run sends for longer than this
    counted_messages: int = 0  # per server under callgrind (bench/instructions.py); 0: not counted


FULL = Sizes(
    ingest_messages=8000,
    e2e_messages=2000,
    concurrency=(16, 64),
    warmup=100,
    per_customer=4,
    fixed_rate_seconds=5.0,
    fixed_rate_rounds=3,
    growth=(100, 10_000, 100_000),
    growth_messages=800,
    scaling_messages=2000,
    scaling_rounds=2,
    nonebot_messages=3000,
    stall=20.0,
    run_limit=120.0,
    counted_messages=400,
)
QUICK = Sizes(
    ingest_messages=300,
    e2e_messages=200,
    concurrency=(16,),
    warmup=10,
    per_customer=4,
    fixed_rate_seconds=1.5,
    fixed_rate_rounds=1,
    growth=(100, 1000),
    growth_messages=100,
    scaling_messages=200,
    scaling_rounds=1,
    nonebot_messages=300,
    stall=10.0,
    run_limit=60.0,
)
# what the default test run does (tests/test_bench_smoke.py): the embedded default only, in seconds
SMOKE = Sizes(
    ingest_messages=150,
    e2e_messages=100,
    concurrency=(16,),
    warmup=5,
    per_customer=4,
    fixed_rate_seconds=1.0,
    fixed_rate_rounds=1,
    growth=(100,),
    growth_messages=50,
    scaling_messages=100,
    scaling_rounds=1,
    nonebot_messages=100,
    stall=10.0,
    run_limit=20.0,
)


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


@dataclass
class Bench:
    sizes: Sizes
    place: Placement
    workdir: Path
    emu: Emulators
    log_level: str
    src: Path = ROOT  # the kefu source tree under test
    engines: dict[str, EnginePair] = field(default_factory=dict)
    pool: Callbacks | None = None
    pool_built: float = 0.0
    notes: list[str] = field(default_factory=list)
    source: dict[str, str] = field(default_factory=dict)
    watch: CpuWatch = field(default_factory=CpuWatch)

    def callbacks(self, n: int) -> Callbacks:
        """The first n measured callbacks, built (encrypted, signed) before anything is timed.

        Rebuilt when older than FRESH_FOR: kefu refuses a callback whose timestamp is too far
        from now (WeChat's max_clock_skew, 600 s by default), as it should.
        """
        if self.pool is None or len(self.pool.items) < n or time.monotonic() - self.pool_built > FRESH_FOR:
            self.pool = Callbacks.build(self.emu, "bench", n, self.sizes.per_customer, 1_000_000_000)
            self.pool_built = time.monotonic()
        return Callbacks(self.pool.tag, self.pool.items[:n], self.sizes.per_customer)

    def warm_callbacks(self) -> Callbacks:
        return Callbacks.build(self.emu, "warm", self.sizes.warmup, 1, WARM_BASE)


# -- small measurement helpers ----------------------------------------------------------


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def ack_figures(res: LoadResult) -> dict[str, Any]:
    return {
        "sent": res.sent,
        "accepted": res.ok,
        "errors": res.errors,
        "error_samples": res.error_samples,
        "timed_out": res.timed_out,
        "rate_per_s": round(res.rate, 1),
        "ack_p50_ms": ms(percentile(res.latencies, 50)),
        "ack_p99_ms": ms(percentile(res.latencies, 99)),
        "ack_max_ms": ms(max(res.latencies, default=0.0)),
        "generator_pause_ms": ms(res.generator_pause),  # a pause of the load generator counts as latency
    }


@dataclass
class Window:
    """A measured stretch of time: CPU accounting at its start."""

    snap: dict[str, float]
    started: float

    @classmethod
    async def open(cls, b: Bench) -> Window:
        return cls(await b.watch.snapshot(), time.monotonic())

    async def close(self, b: Bench, done: int) -> dict[str, Any]:
        """Storage servers' CPU per message (Redis + PostgreSQL, for this bench) and other load."""
        end = await b.watch.snapshot()
        wall = max(time.monotonic() - self.started, 1e-9)
        cores = os.cpu_count() or 1
        busy = sum(end[k] - self.snap[k] for k in end if k != "steal")  # the bench, kefu, the servers, the rest
        return {
            "steal_ms": round((end["steal"] - self.snap["steal"]) * 1000),
            "db_cpu_ms_per_msg": round((end["db"] - self.snap["db"]) / max(done, 1) * 1000, 3),
            "other_load_pct": round((end["foreign"] - self.snap["foreign"]) / (wall * cores) * 100, 1),
            "machine_busy_pct": round(busy / (wall * cores) * 100, 1),
        }


async def wait_for_count(count: Callable[[], int], target: int, *, stall: float, cap: float) -> str:
    """Wait until count() reaches target; 'complete', 'stalled' (no progress for `stall` s) or 'capped'."""
    end, last, last_change = time.monotonic() + cap, count(), time.monotonic()
    while True:
        now_count = count()
        if now_count >= target:
            return "complete"
        now = time.monotonic()
        if now_count != last:
            last, last_change = now_count, now
        if now - last_change > stall:
            return "stalled"
        if now > end:
            return "capped"
        await asyncio.sleep(0.05)


async def sample_backlog(res: LoadResult, done: Callable[[], int], out: list[tuple[float, int, int]]) -> None:
    """Every 0.25 s: (seconds since start, acknowledged, completed)."""
    t0 = time.time()
    while True:
        out.append((round(time.time() - t0, 2), res.ok, done()))
        await asyncio.sleep(0.25)


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def e2e_figures(
    res: LoadResult, arrived: dict[int, float], offset: int, samples: list[tuple[float, int, int]], status: str
) -> dict[str, Any]:
    """End-to-end figures of one run: request i of the run is message offset + i."""
    lat = [arrived[offset + i] - sent for i, sent in res.sent_at.items() if offset + i in arrived]
    done = len(lat)
    last = max((arrived[offset + i] for i in res.sent_at if offset + i in arrived), default=res.first_send)
    backlog = [a - d for _, a, d in samples]
    at_last_ack = next((a - d for t, a, d in samples if a >= res.ok), backlog[-1] if backlog else 0)
    step = max(1, math.ceil(len(samples) / 60))
    return {
        "relayed": done,
        "lost": res.ok - done,
        "wait": status,
        "e2e_rate_per_s": round(done / max(last - res.first_send, 1e-9), 1),
        "e2e_p50_ms": ms(percentile(lat, 50)),
        "e2e_p99_ms": ms(percentile(lat, 99)),
        "e2e_max_ms": ms(max(lat, default=0.0)),
        "backlog_max": max(backlog, default=0),
        "backlog_at_last_ack": at_last_ack,
        "drain_s": round(max(0.0, last - res.last_ack), 2),
        "backlog_series": samples[::step],  # (s, acknowledged, completed)
    }


# -- kefu instances ---------------------------------------------------------------------


@dataclass
class Instance:
    children: list[Child]
    bus: str
    storage: str
    log_errors: list[str] = field(default_factory=list)
    pg: dict[str, int] | None = None  # PostgreSQL transactions and sessions over the whole instance
    budgets: list[CpuBudget] = field(default_factory=list)  # each child's CPU budget, if it has one

    @property
    def ports(self) -> list[int]:
        return [c.port for c in self.children]

    def cpu(self) -> float:
        return sum(cpu_seconds(c.pid) for c in self.children)

    def peak_rss(self) -> float:
        return round(max(peak_rss_mb(c.pid) for c in self.children), 1)


def _log_errors(children: list[Child]) -> list[str]:
    """ERROR lines in kefu's logs, with the exception that ended each traceback."""
    found: list[str] = []
    for c in children:
        lines = c.log_path.read_text(errors="replace").splitlines() if c.log_path.exists() else []
        for k, line in enumerate(lines):
            if "| ERROR" in line:
                exc = next((x for x in lines[k + 1 : k + 80] if re.match(r"^[\w.]+(Error|Exception)\b", x)), "")
                found.append(f"{c.name}: {line.split('| ', 3)[-1][:120]} {exc[:200]}".strip())
    return found


@asynccontextmanager
async def kefu(
    b: Bench,
    engine: str,
    *,
    label: str,
    procs: int = 1,
    seed: int = 0,
    wrap: Callable[[list[str]], list[str]] | None = None,
    budget: float = 0.0,
) -> AsyncIterator[Instance]:
    """A fresh kefu (fresh storage, optionally seeded), agents online, warmed up; stopped after.
    `wrap` puts its command under another (callgrind); with `budget`, every process gets that
    share of a core (bench/budget.py), all on the servers' core."""
    pair = b.engines[engine]
    bus, storage = await pair.fresh()
    if seed:
        took = await seed_open_conversations(storage, seed)
        log(f"  seeded {seed:,} open conversations in {took:.1f}s")
    cores = [b.place.server, b.place.server if budget else b.place.second_server]
    inst = Instance([], bus, storage)
    pg_before = await pg_activity(storage)
    try:
        for k in range(procs):
            under = wrap
            if budget:
                limit, why = CpuBudget.create(f"{label}-p{k + 1}", budget)
                if limit is None:
                    raise RuntimeError(f"no CPU budget: {why}")
                inst.budgets.append(limit)
                under = limit.wrap
            inst.children.append(
                await start_kefu(
                    b.emu,
                    name=f"{label}-p{k + 1}",
                    port=free_port(),
                    bus=bus,
                    storage=storage,
                    core=cores[k],
                    workdir=b.workdir,
                    log_level=b.log_level,
                    src=b.src,
                    wrap=under,
                )
            )
        b.emu.reset()
        if procs > 1:  # measure the steady state: every process serving its share of the partitions
            waited = await partitions_split(bus, procs)
            log(f"  partitions split between {procs} processes after {waited:.1f}s")
        await agents_online(b.emu, inst.ports[0], timeout=20.0 if wrap is None else 120.0)
        await warm_up(b, inst.ports)
        b.emu.reset()
        yield inst
    finally:
        for c in inst.children:
            await c.stop()
        for limit in inst.budgets:
            limit.remove()
        inst.log_errors = await asyncio.to_thread(_log_errors, inst.children)
        await pair.cleanup_redis()
        if pg_before is not None:
            await asyncio.sleep(0.5)  # exiting backends flush their statistics
            after = await pg_activity(storage) or pg_before
            inst.pg = {k: after[k] - pg_before[k] for k in after}


async def warm_up(b: Bench, ports: list[int]) -> None:
    """Warm-up messages from their own customers; the first two one at a time, so that each
    agent's first assignment is not raced (kefu's set_current is an update-then-insert)."""
    reqs = b.warm_callbacks().requests(ports)
    first = min(2, len(reqs))
    for k in range(first):
        await closed_loop([reqs[k]], 1, time_limit=30)
        await wait_for_count(lambda: b.emu.relayed("warm"), k + 1, stall=15, cap=30)
    res = await closed_loop(reqs[first:], 4, time_limit=60)
    await wait_for_count(lambda: b.emu.relayed("warm"), first + res.ok, stall=10, cap=60)


def finish(m: dict[str, Any], inst: Instance, b: Bench, measured: int) -> dict[str, Any]:
    """What is known only once the instance has stopped: its log's errors, PostgreSQL's transactions."""
    m["log_errors"] = inst.log_errors
    if inst.pg is not None:
        # the whole instance: start-up, agents online, warm-up and the measured messages
        for key, value in inst.pg.items():
            m[f"pg_{key}_per_msg"] = round(value / (measured + b.sizes.warmup), 2)
    return m


async def measure_closed(b: Bench, inst: Instance, n: int, concurrency: int, *, e2e: bool) -> dict[str, Any]:
    """n callbacks from `concurrency` connections; with e2e, wait until all are relayed."""
    reqs = b.callbacks(n).requests(inst.ports)
    lag0 = await loop_lag(inst.ports[0]) if not e2e and len(inst.ports) == 1 else None
    window, cpu0 = await Window.open(b), inst.cpu()
    res, samples = LoadResult(), []
    sampler = asyncio.create_task(sample_backlog(res, b.emu.relayed, samples)) if e2e else None
    await closed_loop(reqs, concurrency, time_limit=b.sizes.run_limit, result=res)
    out = ack_figures(res)
    if sampler is None:
        out.update(await window.close(b, res.ok))
        if lag0 is not None:
            out["kefu_loop_late_25ms"] = late_wakeups(lag0, await loop_lag(inst.ports[0]))
        return out
    status = await wait_for_count(b.emu.relayed, res.ok, stall=b.sizes.stall, cap=max(120.0, res.ok / 10))
    await _stop(sampler)
    cpu1 = inst.cpu()
    out.update(e2e_figures(res, b.emu.wecom.arrived["bench"], 0, samples, status))
    out.update(await window.close(b, out["relayed"]))
    out["cpu_ms_per_msg"] = round((cpu1 - cpu0) / max(out["relayed"], 1) * 1000, 3)
    if inst.bus.startswith("memory"):
        out["total_cpu_ms_per_msg"] = out["cpu_ms_per_msg"]
    else:  # the storage servers work for kefu: their CPU is part of the cost
        out["total_cpu_ms_per_msg"] = round(out["cpu_ms_per_msg"] + out["db_cpu_ms_per_msg"], 3)
    out["peak_rss_mb"] = inst.peak_rss()
    out["greetings"] = b.emu.wechat.other
    out["transcript"] = await settled_transcript(inst.storage, out["relayed"])
    return out


async def settled_transcript(storage: str, relayed: int) -> dict[str, int]:
    """The transcript's counts once the last deliveries are marked sent (bounded wait)."""
    counts: dict[str, int] = {}
    for _ in range(50):
        counts = await transcript_counts(storage)
        if counts["relays_logged_sent"] >= relayed:
            break
        await asyncio.sleep(0.1)
    return counts


async def measure_open(
    b: Bench,
    reqs: list[Request],
    rate: float,
    duration: float,
    done: Callable[[], int] | None = None,
    kefu_port: int | None = None,
) -> dict[str, Any]:
    res = LoadResult()
    lag0 = await loop_lag(kefu_port) if kefu_port else None
    window = await Window.open(b)
    await open_loop(reqs, rate, duration=duration, result=res)
    out = ack_figures(res)
    out.update(await window.close(b, res.ok))  # the hypervisor's steal and other load meanwhile
    if kefu_port and lag0 is not None:  # kefu's own loop, beside the load generator's pause
        out["kefu_loop_late_25ms"] = late_wakeups(lag0, await loop_lag(kefu_port))
    out["target_rate"] = round(rate, 1)
    out["achieved_rate_per_s"] = round(res.ok / max(time.time() - res.first_send, 1e-9), 1)
    if done is not None:
        out["completed_by_end"] = done()
    return out


# -- phases -----------------------------------------------------------------------------


async def phase_kefu_closed(b: Bench, results: dict[str, Any]) -> None:
    """1 and 2: ingest runs (acks only) and end-to-end runs, per engine and concurrency.

    Each ingest run has baseline (a) run just before it and just after it, at the same
    concurrency, a few seconds away: the ingest target is judged on their mean (`bare_beside`),
    which the machine's drift over the minutes between the baseline's two rounds cannot move."""
    s = b.sizes
    for engine in b.engines:
        async with bare_server(b) as bare:
            for c in s.concurrency:
                log(f"ingest: {engine}, concurrency {c}, {s.ingest_messages} callbacks, baseline (a) beside it")
                before = await bare_closed(b, bare, c)
                async with kefu(b, engine, label=f"ingest-{engine}-c{c}") as inst:
                    m = await measure_closed(b, inst, s.ingest_messages, c, e2e=False)
                m["bare_beside"] = merge_rounds(before, await bare_closed(b, bare, c))
                m["log_errors"] = inst.log_errors
                results["ingest"].setdefault(engine, {})[f"c{c}"] = m
                log(
                    f"  {m['rate_per_s']:.0f} msg/s, ack p50 {m['ack_p50_ms']} ms, p99 {m['ack_p99_ms']} ms; "
                    f"bare beside it {m['bare_beside']['rate_per_s']:.0f} msg/s"
                )
        for c in s.concurrency:
            log(f"end to end: {engine}, concurrency {c}, {s.e2e_messages} callbacks")
            async with kefu(b, engine, label=f"e2e-{engine}-c{c}") as inst:
                m = await measure_closed(b, inst, s.e2e_messages, c, e2e=True)
            finish(m, inst, b, s.e2e_messages)
            results["e2e"].setdefault(engine, {})[f"c{c}"] = m
            log(
                f"  {m['e2e_rate_per_s']:.0f} msg/s sustained, p50 {m['e2e_p50_ms']} ms, p99 {m['e2e_p99_ms']} ms, "
                f"{m['cpu_ms_per_msg']} ms CPU/msg, peak RSS {m['peak_rss_mb']} MiB, not relayed {m['lost']}"
            )


async def phase_kefu_fixed_rate(b: Bench, results: dict[str, Any]) -> list[float]:
    """Ack latency at half the engine's best accepted rate (and at half its end-to-end rate).

    The run at half the best ingest rate is made `fixed_rate_rounds` times, each from an empty
    backlog, and the round with the median p99 is the figure: one 5 s run's p99 on this machine
    moved from 9 to 62 ms between rounds of the same code (bench/RESULTS.md, 2026-12-06)."""
    s, rates = b.sizes, []
    for engine in b.engines:
        best_ingest = max(m["rate_per_s"] for m in results["ingest"][engine].values())
        best_e2e = max(m["e2e_rate_per_s"] for m in results["e2e"][engine].values())
        plan = [("half_max_e2e", best_e2e / 2, s.fixed_rate_seconds * 2)]
        plan += [("half_max_ingest", best_ingest / 2, s.fixed_rate_seconds)] * s.fixed_rate_rounds
        need = sum(math.ceil(r * d) for _, r, d in plan)
        pool = b.callbacks(need)
        log(f"fixed rate: {engine}, {plan[0][1]:.0f} msg/s then {plan[1][1]:.0f} msg/s ({s.fixed_rate_rounds}×)")
        runs: dict[str, list[dict[str, Any]]] = {}
        async with kefu(b, engine, label=f"rate-{engine}") as inst:
            reqs, offset, accepted = pool.requests(inst.ports), 0, 0
            for k, (kind, rate, duration) in enumerate(plan):
                n = math.ceil(rate * duration)
                m = await measure_open(b, reqs[offset : offset + n], rate, duration, b.emu.relayed, inst.ports[0])
                offset, accepted = offset + n, accepted + m["accepted"]
                if k < len(plan) - 1:  # let it drain so the next run starts from an empty backlog
                    m["drain"] = await wait_for_count(b.emu.relayed, accepted, stall=s.stall, cap=120)
                if kind not in runs:
                    rates.append(rate)  # the baselines are measured once at each rate
                runs.setdefault(kind, []).append(m)
                m["peak_rss_mb"] = inst.peak_rss()
                log(f"  {kind}: {rate:.0f} msg/s, ack p50 {m['ack_p50_ms']} ms, p99 {m['ack_p99_ms']} ms")
        results["half_rate"][engine] = {kind: median_round(ms, "ack_p99_ms") for kind, ms in runs.items()}
        results["half_rate_log_errors"][engine] = inst.log_errors
    return rates


@asynccontextmanager
async def bare_server(b: Bench) -> AsyncIterator[Child]:
    """Baseline (a)'s server on kefu's core, warmed up; stopped after."""
    emu, port = b.emu, free_port()
    argv = [sys.executable, str(ROOT / "bench" / "bare_server.py"), str(port), emu.wx_token, emu.wx_key]
    child = await start_child(
        "bare", [*argv, emu.wechat.app_id], port=port, core=b.place.server, log_path=b.workdir / "bare.log", cwd=ROOT
    )
    try:
        await closed_loop(b.warm_callbacks().requests([port]), 4, time_limit=30)
        yield child
    finally:
        await child.stop()


async def bare_closed(b: Bench, child: Child, c: int) -> dict[str, Any]:
    """One closed-loop run of baseline (a) at concurrency c."""
    reqs = b.callbacks(b.sizes.ingest_messages).requests([child.port])
    window, cpu0 = await Window.open(b), cpu_seconds(child.pid)
    res = await closed_loop(reqs, c, time_limit=b.sizes.run_limit)
    m = ack_figures(res)
    m["other_load_pct"] = (await window.close(b, res.ok))["other_load_pct"]
    m["cpu_ms_per_msg"] = round((cpu_seconds(child.pid) - cpu0) / max(res.ok, 1) * 1000, 3)
    return m


async def phase_bare(b: Bench, rates: list[float]) -> dict[str, Any]:
    """Baseline (a): wechatpy decrypt + parse in a bare aiohttp handler, same callbacks, same core
    (closed-loop runs, then one fixed-rate run per rate)."""
    s = b.sizes
    log("baseline (a): bare aiohttp + wechatpy")
    out: dict[str, Any] = {"closed": {}, "open": {}}
    async with bare_server(b) as child:
        for c in s.concurrency:
            m = out["closed"][f"c{c}"] = await bare_closed(b, child, c)
            log(f"  c{c}: {m['rate_per_s']:.0f} msg/s, ack p50 {m['ack_p50_ms']} ms, p99 {m['ack_p99_ms']} ms")
        for rate in rates:
            reqs = b.callbacks(math.ceil(rate * s.fixed_rate_seconds)).requests([child.port])
            m = await measure_open(b, reqs, rate, s.fixed_rate_seconds)
            out["open"][f"r{rate:.0f}"] = m
        out["peak_rss_mb"] = round(peak_rss_mb(child.pid), 1)
    return out


async def phase_nonebot(b: Bench, rates: list[float]) -> dict[str, Any]:
    """Baseline (b): NoneBot2 + OneBot v11, same concurrency and rates; completion at the fake API."""
    s = b.sizes
    log("baseline (b): NoneBot2 (creating bench/.venv-nonebot if needed)")
    try:
        python = await ensure_venv()
    except RuntimeError as e:
        b.notes.append("NoneBot2 baseline skipped: its virtual environment could not be made.")
        log(f"  skipped: {e}")
        return {"skipped": f"its virtual environment could not be made: {e}"}
    api = FakeOneBot()
    await api.start()
    port = free_port()
    child = await start_nonebot(python, port=port, api_port=api.port, core=b.place.server, workdir=b.workdir)
    out: dict[str, Any] = {"closed": {}, "open": {}, "versions": " + ".join(PINS)}
    try:
        warm = NoneBotEvents.build(s.warmup, s.warmup, first_id=WARM_BASE).requests(port)
        await closed_loop(warm, 4, time_limit=30)
        await wait_for_count(lambda: len(api.arrived), len(warm), stall=10, cap=30)
        events = NoneBotEvents.build(
            max(s.nonebot_messages, _open_need(rates, s)), s.nonebot_messages // s.per_customer
        )
        for c in s.concurrency:
            out["closed"][f"c{c}"] = await _nonebot_closed(
                b, child, api, events.requests(port)[: s.nonebot_messages], c
            )
        out["peak_rss_mb"] = round(peak_rss_mb(child.pid), 1)  # after the closed-loop runs, as kefu's is
        reqs = events.requests(port)
        for rate in rates:
            api.reset()
            m = await measure_open(b, reqs, rate, s.fixed_rate_seconds, lambda: len(api.arrived))
            m["drain"] = await wait_for_count(lambda: len(api.arrived), m["accepted"], stall=s.stall, cap=120)
            out["open"][f"r{rate:.0f}"] = m
        if rates:
            out["peak_rss_mb_with_fixed_rate"] = round(peak_rss_mb(child.pid), 1)
    finally:
        await child.stop()
        await api.stop()
    return out


def _open_need(rates: list[float], s: Sizes) -> int:
    return max((math.ceil(r * s.fixed_rate_seconds) for r in rates), default=0)


async def _nonebot_closed(b: Bench, child: Child, api: FakeOneBot, reqs: list[Request], c: int) -> dict[str, Any]:
    api.reset()
    window, cpu0 = await Window.open(b), cpu_seconds(child.pid)
    res, samples = LoadResult(), []
    done = lambda: len(api.arrived)  # noqa: E731
    sampler = asyncio.create_task(sample_backlog(res, done, samples))
    await closed_loop(reqs, c, time_limit=b.sizes.run_limit, result=res)
    status = await wait_for_count(done, res.ok, stall=b.sizes.stall, cap=120)
    await _stop(sampler)
    m = ack_figures(res)
    m.update(e2e_figures(res, api.arrived, 0, samples, status))
    m["other_load_pct"] = (await window.close(b, m["relayed"]))["other_load_pct"]
    m["cpu_ms_per_msg"] = round((cpu_seconds(child.pid) - cpu0) / max(m["relayed"], 1) * 1000, 3)
    log(
        f"  c{c}: acks {m['rate_per_s']:.0f} msg/s, {m['e2e_rate_per_s']:.0f} msg/s end to end, "
        f"p99 {m['e2e_p99_ms']} ms"
    )
    return m


async def phase_growth(b: Bench, results: dict[str, Any]) -> None:
    """4: cost per message with N open conversations already in storage. Each size is measured
    twice, the sizes in one order and then in the reverse (100, 10k, 100k, 100k, 10k, 100), so a
    machine that speeds up or slows down meanwhile moves every size alike (bench/rounds.py)."""
    s, c = b.sizes, b.sizes.concurrency[0]
    for engine in b.engines:
        runs: dict[str, list[dict[str, Any]]] = {}
        for size in [*s.growth, *reversed(s.growth)]:
            log(f"growth: {engine}, {size:,} open conversations, {s.growth_messages} callbacks at c{c}")
            async with kefu(
                b, engine, label=f"growth-{engine}-{size}-{len(runs.get(str(size), []))}", seed=size
            ) as inst:
                m = await measure_closed(b, inst, s.growth_messages, c, e2e=True)
            finish(m, inst, b, s.growth_messages)
            runs.setdefault(str(size), []).append(m)
            log(
                f"  {m['total_cpu_ms_per_msg']} ms CPU/msg ({m['cpu_ms_per_msg']} in kefu), "
                f"{m['e2e_rate_per_s']:.0f} msg/s"
            )
        results["growth"][engine] = {size: merge_rounds(*pair) for size, pair in runs.items()}


SCALE_BUDGET = 0.4  # of a core, per kefu process in the budgeted scaling runs: two fit on the servers' core


async def phase_scaling(b: Bench, results: dict[str, Any]) -> None:
    """4: one kefu process vs two on the same Redis + PostgreSQL, load split round-robin.

    First with a CPU budget per process (bench/budget.py), all on the servers' core: the ratio
    is what a second process adds while the rest of the machine has CPU to spare (the judged
    one). Then unconstrained, the second process on the load generator's core: what this
    machine, which also runs the servers and the load, can give a second process."""
    s, c = b.sizes, b.sizes.concurrency[-1]
    out: dict[str, Any] = {"level": f"c{c}"}
    probe, why = CpuBudget.create("probe", SCALE_BUDGET)
    if probe is not None:
        probe.remove()
    if b.place.server is None or probe is None:
        b.notes.append(f"Scaling with a CPU budget per process not measured: {why or 'fewer than 2 cores'}.")
    else:
        await settle_storage(b.engines["redis+postgres"].pg_url)
        runs: dict[str, list[dict[str, Any]]] = {}
        n = s.scaling_messages // s.scaling_rounds
        # mirrored, and short runs alternating: this machine's speed moves by a fifth within a minute
        for procs in (1, 2, 2, 1) * s.scaling_rounds:
            log(f"scaling: {procs} kefu process(es), {SCALE_BUDGET} of a core each, {n} callbacks at c{c}")
            rounds = runs.setdefault(str(procs), [])
            m = await _scaling_run(b, f"scale-{procs}-budget-{len(rounds)}", procs, c, n, SCALE_BUDGET)
            rounds.append(m)
            log(f"  {m['e2e_rate_per_s']:.0f} msg/s, budget used {m['budget_used_pct']} %, not relayed {m['lost']}")
        out["budgeted"] = {"share": SCALE_BUDGET, **{k: merge_rounds(*rounds) for k, rounds in runs.items()}}
    for procs in (1, 2):
        log(f"scaling: {procs} kefu process(es) on redis+postgres, {s.scaling_messages} callbacks at c{c}")
        m = await _scaling_run(b, f"scale-{procs}", procs, c, s.scaling_messages, 0.0)
        out[str(procs)] = m
        log(f"  {m['e2e_rate_per_s']:.0f} msg/s, not relayed {m['lost']}")
    results["scaling"] = out


async def _scaling_run(b: Bench, label: str, procs: int, c: int, n: int, budget: float) -> dict[str, Any]:
    async with kefu(b, "redis+postgres", label=label, procs=procs, budget=budget) as inst:
        before = [limit.throttled() for limit in inst.budgets]
        cpu0 = [cpu_seconds(child.pid) for child in inst.children]
        m = await measure_closed(b, inst, n, c, e2e=True)
        after = [limit.throttled() for limit in inst.budgets]
        # how the work fell between the processes
        m["cpu_s_per_process"] = [
            round(cpu_seconds(ch.pid) - c0, 2) for ch, c0 in zip(inst.children, cpu0, strict=True)
        ]
    if budget:
        periods = sum(a[0] - b0[0] for a, b0 in zip(after, before, strict=True))
        throttled = sum(a[1] - b0[1] for a, b0 in zip(after, before, strict=True))
        # how much of its budget kefu used: near 100 %, kefu's own CPU was what limited the rate
        used = m["cpu_ms_per_msg"] / 1000 * m["e2e_rate_per_s"] / (procs * budget)
        m.update(budget_share=budget, budget_used_pct=round(used * 100, 1))
        m["budget_throttled_pct"] = round(throttled / max(periods, 1) * 100, 1)
    return finish(m, inst, b, n)


async def phase_instructions(b: Bench, results: dict[str, Any], nonebot: bool) -> None:
    """5: instructions per message, each server under callgrind (bench/instructions.py)."""
    n = b.sizes.counted_messages
    if not n:
        return
    if not instructions.available():
        b.notes.append("Instructions per message not counted: valgrind is not installed.")
        return
    out: dict[str, Any] = {"messages": n, "concurrency": COUNTED_AT}
    counts = [("bare", "bare", lambda: _count_bare(b, n))]
    if nonebot:
        counts.append(("nonebot", "NoneBot2", lambda: _count_nonebot(b, n)))
    counts += [(e, f"kefu on {e}", lambda e=e: _count_kefu(b, e, n)) for e in b.engines]
    if "redis+postgres" in b.engines:  # kefu's own work for a second process, which no timing on this machine shows
        counts.append(
            ("redis+postgres, 2 processes", "2 kefu processes", lambda: _count_kefu(b, "redis+postgres", n, 2))
        )
    for key, name, count in counts:
        log(f"instructions: {name}, {n} messages under callgrind")
        try:
            out[key] = await count()
        except (RuntimeError, OSError, TimeoutError) as e:  # the timed figures stand without it
            b.notes.append(f"Instructions of {name} not counted: {e}")
            log(f"  not counted: {e}")
    log("  per message: " + ", ".join(f"{k} {v['per_msg']:,}" for k, v in out.items() if isinstance(v, dict)))
    results["instructions"] = out


COUNTED_AT = 8  # concurrency of the counted runs


def _counted(ins: int, done: int) -> dict[str, Any]:
    return {"per_msg": round(ins / max(done, 1)), "done": done}


async def _count_bare(b: Bench, n: int) -> dict[str, Any]:
    emu, port, out_file = b.emu, free_port(), b.workdir / "callgrind-bare.out"
    argv = [sys.executable, str(ROOT / "bench" / "bare_server.py"), str(port), emu.wx_token, emu.wx_key]
    argv = instructions.callgrind_argv([*argv, emu.wechat.app_id], out_file)
    log_path, core = b.workdir / "bare-callgrind.log", b.place.server
    child = await start_child("bare", argv, port=port, core=core, log_path=log_path, cwd=ROOT, ready_timeout=300)
    try:
        await closed_loop(b.warm_callbacks().requests([port]), 4, time_limit=120)
        reqs = b.callbacks(n).requests([port])
        async with instructions.counting(child.pid, out_file) as count:
            res = await closed_loop(reqs, COUNTED_AT, time_limit=600)
    finally:
        await child.stop()
    return _counted(count.instructions, res.ok)


async def _count_nonebot(b: Bench, n: int) -> dict[str, Any]:
    python, api, port = await ensure_venv(), FakeOneBot(), free_port()
    out_file = b.workdir / "callgrind-nonebot.out"
    await api.start()
    wrap = lambda argv: instructions.callgrind_argv(argv, out_file)  # noqa: E731
    child = await start_nonebot(python, port=port, api_port=api.port, core=b.place.server, workdir=b.workdir, wrap=wrap)
    try:
        warm = NoneBotEvents.build(b.sizes.warmup, b.sizes.warmup, first_id=WARM_BASE).requests(port)
        await closed_loop(warm, 4, time_limit=120)
        await wait_for_count(lambda: len(api.arrived), len(warm), stall=30, cap=120)
        reqs = NoneBotEvents.build(n, max(n // b.sizes.per_customer, 1)).requests(port)
        api.reset()
        async with instructions.counting(child.pid, out_file) as count:
            await closed_loop(reqs, COUNTED_AT, time_limit=600)
            await wait_for_count(lambda: len(api.arrived), len(reqs), stall=60, cap=600)
    finally:
        await child.stop()
        await api.stop()
    return _counted(count.instructions, len(api.arrived))


async def _count_kefu(b: Bench, engine: str, n: int, procs: int = 1) -> dict[str, Any]:
    """kefu's processes under callgrind, all counted: instructions per message relayed."""
    files = [b.workdir / f"callgrind-kefu-{engine}-{procs}-{k}.out" for k in range(procs)]
    given = iter(files)
    wrap = lambda argv: instructions.callgrind_argv(argv, next(given))  # noqa: E731
    async with kefu(b, engine, label=f"counted-{engine}-{procs}", procs=procs, wrap=wrap) as inst:
        reqs = b.callbacks(n).requests(inst.ports)
        async with AsyncExitStack() as counting:
            counts = [
                await counting.enter_async_context(instructions.counting(child.pid, out))
                for child, out in zip(inst.children, files, strict=True)
            ]
            res = await closed_loop(reqs, COUNTED_AT, time_limit=600)
            await wait_for_count(b.emu.relayed, res.ok, stall=60, cap=600)
        relayed = b.emu.relayed()
    return _counted(sum(c.instructions for c in counts), relayed)


# -- the run ----------------------------------------------------------------------------


async def kefu_source(rev: str, workdir: Path) -> tuple[Path, dict[str, str]]:
    """The tree kefu runs from: the working tree, or a committed revision extracted with git archive."""
    if rev:
        commit = await export_rev(rev, workdir / "kefu-src")
        return workdir / "kefu-src", {"commit": commit[:12], "describe": f"commit {commit[:12]} ({rev}, git archive)"}
    head, dirty = await asyncio.to_thread(_working_tree_state)
    state = f"{dirty} uncommitted change(s) in bot/ adapters/ handlers/" if dirty else "clean"
    return ROOT, {"commit": head, "describe": f"working tree at {ROOT} (HEAD {head}, {state})"}


def _working_tree_state() -> tuple[str, int]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    head = git("rev-parse", "--short=12", "HEAD").strip()
    dirty = [ln for ln in git("status", "--porcelain", "--", "bot", "adapters", "handlers").splitlines() if ln]
    return head, len(dirty)


def error_notes(results: dict[str, Any]) -> list[str]:
    """One note per kefu run whose log has ERROR lines (the run's figures are suspect then)."""
    notes = []
    runs: list[tuple[str, Any]] = []
    for section in ("ingest", "e2e", "growth"):
        for engine, by in results.get(section, {}).items():
            runs += [(f"{section} {engine} {k}", m.get("log_errors")) for k, m in by.items()]
    for engine, errs in results.get("half_rate_log_errors", {}).items():
        runs.append((f"fixed rate {engine}", errs))
    for k in ("1", "2"):
        m = results.get("scaling", {}).get(k)
        if m:
            runs.append((f"scaling {k} process(es)", m.get("log_errors")))
    for name, errs in runs:
        if errs:
            notes.append(f"kefu logged {len(errs)} ERROR line(s) in the {name} run; first: {errs[0]}")
    return notes


def machine_meta(b: Bench, mode: str) -> dict[str, Any]:
    model = ""
    try:
        model = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")
            ),
            "",
        )
    except OSError:
        pass
    return {
        "date": dt.date.today().isoformat(),
        "cores": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "commit": b.source["commit"],
        "kefu_source": b.source["describe"],
        "mode": mode,
        "placement": b.place.describe(),
        "concurrency": list(b.sizes.concurrency),
        "sizes": b.sizes.__dict__,
        "log_level": b.log_level,
    }


def standing_notes(b: Bench) -> list[str]:
    notes = [f"Durability at the ack, {name}: {pair.durable}." for name, pair in b.engines.items()]
    notes += [
        "Ingest figures come from runs of their own; kefu's workers keep running on the same core "
        "meanwhile, so the accepted rate is what kefu takes in while also working off its backlog. ",
        f"Each customer writes {b.sizes.per_customer} messages: one in {b.sizes.per_customer} opens a conversation "
        "(greeting to WeChat, name look-up, assignment) and every message is relayed to an agent.",
        "End-to-end latency: from sending the callback to the relay reaching the WeCom emulator; "
        "CPU per message counts kefu's process (all threads); "
        "for redis+postgres the servers' own CPU is a separate row.",
        "Redis and PostgreSQL are not pinned: they run wherever the kernel puts them.",
        "Event loops: kefu and baseline (a) run on uvloop; baseline (b) runs on uvicorn, "
        "which takes uvloop and httptools when installed (NoneBot2's fastapi extra installs both).",
        "Baseline (b) acknowledges with 204 before handling (its handling is an asyncio task), "
        "so its ack figures are not comparable to a durable enqueue.",
    ]
    if b.place.server is not None:
        notes.append(
            f"Scaling: with a budget, every kefu process is held to {SCALE_BUDGET} of a core by a CFS quota "
            "(a cgroup each, bench/budget.py), all on core 0, and the runs go 1, 2, 2, 1 processes "
            f"({b.sizes.scaling_rounds}×, short runs); the rest of "
            "the machine then has CPU to spare (budget used near 100 % says kefu's budget set the rate), so the "
            "ratio is what a second process adds. With no budget, process 2 runs on core 1, which it shares "
            "with the load generator and emulators, and Redis and PostgreSQL take from both cores."
        )
    return notes


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = SMOKE if args.smoke else QUICK if args.quick else FULL
    place = placement()
    workdir = Path(tempfile.mkdtemp(prefix="kefu-bench-"))
    emu = Emulators()
    b = Bench(sizes, place, workdir, emu, args.log_level)
    engines = [e for e in ENGINES if e in args.engines.split(",")]
    results: dict[str, Any] = {"ingest": {}, "e2e": {}, "half_rate": {}, "half_rate_log_errors": {}, "growth": {}}
    log(f"work dir {workdir}; {place.describe()}")
    b.src, b.source = await kefu_source(args.kefu_rev, workdir)
    log(f"kefu under test: {b.source['describe']}")
    b.callbacks(max(sizes.ingest_messages, sizes.e2e_messages, sizes.growth_messages, sizes.scaling_messages))
    pg_url = ""
    try:
        if "redis+postgres" in engines:
            pg_url = await create_pg_database()
        b.engines = {e: EnginePair(e, workdir, pg_url=pg_url) for e in engines}
        pin_self(place.load)
        b.watch = CpuWatch(db_name=pg_url.rsplit("/", 1)[-1] if pg_url else "")
        b.watch.start()
        whole = await Window.open(b)
        await emu.start()
        # the baselines' closed-loop runs before kefu's and again after (bench/rounds.py)
        log("baselines, first round (closed loop)")
        bare_first = await phase_bare(b, [])
        nonebot_first = {} if args.skip_nonebot else await phase_nonebot(b, [])
        await phase_kefu_closed(b, results)
        rates = await phase_kefu_fixed_rate(b, results)
        log("baselines, second round (closed loop, then the fixed rates)")
        results["bare"] = bracket(bare_first, await phase_bare(b, rates))
        if args.skip_nonebot:
            results["nonebot"] = {"skipped": "--skip-nonebot"}
        else:
            results["nonebot"] = bracket(nonebot_first, await phase_nonebot(b, rates))
        await phase_growth(b, results)
        if "redis+postgres" in engines:
            await phase_scaling(b, results)
        await phase_instructions(b, results, nonebot=not args.skip_nonebot)
        results["other_load_pct"] = (await whole.close(b, 1))["other_load_pct"]
    finally:
        await b.watch.stop()
        await emu.stop()
        for pair in b.engines.values():
            await pair.cleanup_redis()
        if pg_url:
            await drop_pg_database(pg_url)
    results["meta"] = machine_meta(b, "smoke" if args.smoke else "quick" if args.quick else "full")
    results["meta"]["notes"] = standing_notes(b) + b.notes + error_notes(results)
    if args.keep_workdir:
        results["meta"]["workdir"] = str(workdir)
    else:
        await asyncio.to_thread(shutil.rmtree, workdir, True)
    return results


def write_outputs(results: dict[str, Any], out_dir: Path) -> str:
    rows = report.build_rows(results)
    targets = report.evaluate_targets(results)
    results["figures"] = [r.to_dict() for r in rows]
    results["targets"] = targets
    md = report.markdown(results, rows, targets)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    (out_dir / "results.md").write_text(md, encoding="utf-8")
    return md


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="kefu benchmark (see README, Benchmark)")
    p.add_argument("--quick", action="store_true", help="a few hundred messages, small growth sizes")
    p.add_argument("--skip-nonebot", action="store_true", help="leave out baseline (b)")
    p.add_argument(
        "--smoke", action="store_true", help="seconds: the embedded default only, no baseline (b), tiny sizes"
    )
    p.add_argument("--out", default=str(ROOT / "bench" / "out"), help="where results.md and results.json go")
    p.add_argument("--engines", default=",".join(ENGINES), help="memory+sqlite,redis+postgres (default both)")
    p.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="kefu's log level"
    )
    p.add_argument("--kefu-rev", default="", help="measure this git revision (git archive) instead of the working tree")
    p.add_argument("--keep-workdir", action="store_true", help="keep kefu's configs, logs and databases")
    args = p.parse_args(argv)
    if args.smoke:
        args.skip_nonebot, args.engines = True, "memory+sqlite"
    started = time.monotonic()
    results = asyncio.run(run(args))
    results["meta"]["wall_seconds"] = round(time.monotonic() - started, 1)
    md = write_outputs(results, Path(args.out))
    print(md)
    log(f"done in {results['meta']['wall_seconds']:.0f}s; wrote {args.out}/results.md and results.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
