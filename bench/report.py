"""Turn the measurements into figures with their ratios to the baselines, the targets, a
Markdown table and the JSON document."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Row", "build_rows", "evaluate_targets", "markdown"]


@dataclass
class Row:
    section: str
    engine: str
    load: str
    figure: str
    unit: str
    value: float | None
    bare: float | None = None
    nonebot: float | None = None

    @property
    def vs_bare(self) -> float | None:
        return _ratio(self.value, self.bare)

    @property
    def vs_nonebot(self) -> float | None:
        return _ratio(self.value, self.nonebot)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(vs_bare=self.vs_bare, vs_nonebot=self.vs_nonebot)
        return d


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def _get(d: dict[str, Any] | None, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


# -- rows ------------------------------------------------------------------------------


def _row(
    section: str, engine: str, load: str, figure: str, unit: str, value: Any, bare: Any = None, nonebot: Any = None
) -> Row:
    return Row(section, engine, load, figure, unit, value, bare, nonebot)


def build_rows(res: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    bare, nb = res.get("bare", {}), res.get("nonebot", {})
    rows += _baseline_rows(bare, nb)
    for engine, by_level in res.get("ingest", {}).items():
        for level, m in by_level.items():
            rows += _ingest_rows(engine, level, m, _bare_for_ingest(m, bare, level), _get(nb, "closed", level))
    for engine, by_level in res.get("e2e", {}).items():
        for level, m in by_level.items():
            rows += _e2e_rows(engine, level, m, bare, nb)
    for engine, runs in res.get("half_rate", {}).items():
        rows += _half_rows(engine, runs, bare, nb)
    first = f"c{res.get('meta', {}).get('concurrency', [16])[0]}"
    for engine, by_size in res.get("growth", {}).items():
        rows += _growth_rows(engine, by_size, _get(bare, "closed", first), _get(nb, "closed", first), first)
    if res.get("scaling"):
        rows += _scaling_rows(res["scaling"], bare, nb)
    if res.get("instructions"):
        rows += _instruction_rows(res["instructions"])
    return rows


def _baseline_rows(bare: dict[str, Any], nb: dict[str, Any]) -> list[Row]:
    rows, a, b = [], "baseline (a) bare decrypt+parse", "baseline (b) NoneBot2"
    for level, m in (bare.get("closed") or {}).items():
        rows += [
            _row(a, "-", level, "accepted msg/s", "msg/s", m["rate_per_s"]),
            _row(a, "-", level, "ack p99", "ms", m["ack_p99_ms"]),
            _row(a, "-", level, "CPU per message", "ms", m.get("cpu_ms_per_msg")),
        ]
        if m.get("drift_pct") is not None:
            rows.append(_row(a, "-", level, "drift, second round vs first", "%", m["drift_pct"]))
    if bare.get("peak_rss_mb") is not None:
        rows.append(_row(a, "-", "all runs", "peak RSS", "MiB", bare["peak_rss_mb"]))
    for level, m in (nb.get("closed") or {}).items():
        rows += [
            _row(b, "-", level, "end-to-end msg/s", "msg/s", m.get("e2e_rate_per_s")),
            _row(b, "-", level, "end-to-end p99", "ms", m.get("e2e_p99_ms")),
            _row(b, "-", level, "CPU per message", "ms", m.get("cpu_ms_per_msg")),
        ]
        if m.get("drift_pct") is not None:
            rows.append(_row(b, "-", level, "drift, second round vs first", "%", m["drift_pct"]))
    if nb.get("peak_rss_mb") is not None:
        rows.append(_row(b, "-", "closed-loop runs", "peak RSS", "MiB", nb["peak_rss_mb"]))
    if nb.get("skipped"):
        rows.append(_row(b, "-", "-", f"skipped: {nb['skipped']}", "", None))
    return rows


def _bare_for_ingest(m: dict[str, Any], bare: dict[str, Any], level: str) -> Any:
    """Baseline (a) as run just before and after this ingest run where it was, else its two rounds."""
    return m.get("bare_beside") or _get(bare, "closed", level)


def _ingest_rows(engine: str, level: str, m: dict[str, Any], b: Any, n: Any) -> list[Row]:
    s = "1 ingest"
    rows = [
        _row(
            s, engine, level, "accepted msg/s", "msg/s", m["rate_per_s"], _get(b, "rate_per_s"), _get(n, "rate_per_s")
        ),
        _row(s, engine, level, "ack p50", "ms", m["ack_p50_ms"], _get(b, "ack_p50_ms"), _get(n, "ack_p50_ms")),
        _row(s, engine, level, "ack p99", "ms", m["ack_p99_ms"], _get(b, "ack_p99_ms"), _get(n, "ack_p99_ms")),
        _row(s, engine, level, "failed acks (not 2xx)", "msgs", m["errors"], _get(b, "errors"), _get(n, "errors")),
        *_stall_rows(s, engine, level, m),
        _row(s, engine, level, "other load on the machine", "%", m.get("other_load_pct")),
    ]
    drift = _get(m, "bare_beside", "drift_pct")
    if drift is not None:
        rows.append(_row(s, engine, level, "baseline (a) beside it: drift, after vs before", "%", drift))
    return rows


def _round_rows(s: str, engine: str, load: str, m: dict[str, Any]) -> list[Row]:
    """A run made in rounds (bench.rounds.median_round): how many, and the lowest and highest p99."""
    if not m.get("rounds"):
        return []
    return [
        _row(s, engine, load, "rounds (the median round's figures shown)", "runs", len(m["rounds"])),
        _row(s, engine, load, "ack p99, lowest round", "ms", m["ack_p99_ms_lowest"]),
        _row(s, engine, load, "ack p99, highest round", "ms", m["ack_p99_ms_highest"]),
    ]


def _stall_rows(s: str, engine: str, load: str, m: dict[str, Any]) -> list[Row]:
    """Who held things up in kefu's run: the load generator's own longest pause (its latency
    figures include it; the baselines' runs record theirs in the JSON), how often kefu's loop
    woke a 20 ms timer more than 25 ms late, and the time the hypervisor took the cores away."""
    return [
        _row(s, engine, load, "load generator's longest pause", "ms", m.get("generator_pause_ms")),
        _row(s, engine, load, "kefu's loop late > 25 ms", "times", m.get("kefu_loop_late_25ms")),
        _row(s, engine, load, "CPU stolen by the hypervisor", "ms", m.get("steal_ms")),
    ]


def _e2e_rows(engine: str, level: str, m: dict[str, Any], bare: dict[str, Any], nb: dict[str, Any]) -> list[Row]:
    s, b, n = "2 end to end", _get(bare, "closed", level), _get(nb, "closed", level)
    return [
        _row(
            s,
            engine,
            level,
            "sustained msg/s",
            "msg/s",
            m["e2e_rate_per_s"],
            _get(b, "rate_per_s"),
            _get(n, "e2e_rate_per_s"),
        ),
        _row(s, engine, level, "end-to-end p50", "ms", m["e2e_p50_ms"], _get(b, "ack_p50_ms"), _get(n, "e2e_p50_ms")),
        _row(s, engine, level, "end-to-end p99", "ms", m["e2e_p99_ms"], _get(b, "ack_p99_ms"), _get(n, "e2e_p99_ms")),
        _row(s, engine, level, "max backlog", "msgs", m["backlog_max"], None, _get(n, "backlog_max")),
        _row(s, engine, level, "drain after last ack", "s", m["drain_s"], None, _get(n, "drain_s")),
        _row(s, engine, level, "not relayed", "msgs", m["lost"], None, _get(n, "lost")),
        _row(s, engine, level, "peak RSS", "MiB", m["peak_rss_mb"], bare.get("peak_rss_mb"), nb.get("peak_rss_mb")),
        _row(
            s,
            engine,
            level,
            "CPU per message (kefu)",
            "ms",
            m["cpu_ms_per_msg"],
            _get(b, "cpu_ms_per_msg"),
            _get(n, "cpu_ms_per_msg"),
        ),
        _row(s, engine, level, "other load on the machine", "%", m.get("other_load_pct")),
    ] + _server_rows(s, engine, level, m)


def _server_rows(s: str, engine: str, level: str, m: dict[str, Any]) -> list[Row]:
    """What the storage servers did per message (redis+postgres only)."""
    if engine == "memory+sqlite":
        return []
    rows = [_row(s, engine, level, "CPU per message (Redis+PostgreSQL servers)", "ms", m["db_cpu_ms_per_msg"])]
    if m.get("pg_transactions_per_msg") is not None:
        rows.append(_row(s, engine, level, "PostgreSQL transactions per message", "", m["pg_transactions_per_msg"]))
        rows.append(_row(s, engine, level, "PostgreSQL sessions opened per message", "", m["pg_sessions_per_msg"]))
    return rows


def _half_rows(engine: str, runs: dict[str, Any], bare: dict[str, Any], nb: dict[str, Any]) -> list[Row]:
    rows, s = [], "1 ingest, fixed rate"
    for kind, m in runs.items():
        load = f"{m['target_rate']:.0f} msg/s ({kind.replace('_', ' ')})"
        b, n = _get(bare, "open", f"r{m['target_rate']:.0f}"), _get(nb, "open", f"r{m['target_rate']:.0f}")
        rows += [
            _row(s, engine, load, "ack p50", "ms", m["ack_p50_ms"], _get(b, "ack_p50_ms"), _get(n, "ack_p50_ms")),
            _row(s, engine, load, "ack p99", "ms", m["ack_p99_ms"], _get(b, "ack_p99_ms"), _get(n, "ack_p99_ms")),
            _row(s, engine, load, "failed acks (not 2xx)", "msgs", m["errors"], _get(b, "errors"), _get(n, "errors")),
            *_round_rows(s, engine, load, m),
            *_stall_rows(s, engine, load, m),
        ]
    last = runs.get("half_max_ingest") or {}
    if last.get("peak_rss_mb") is not None:
        rows.append(
            _row(
                s,
                engine,
                "both fixed-rate runs",
                "peak RSS",
                "MiB",
                last["peak_rss_mb"],
                bare.get("peak_rss_mb"),
                nb.get("peak_rss_mb_with_fixed_rate"),
            )
        )
    return rows


def _growth_rows(engine: str, by_size: dict[str, Any], b: Any, n: Any, level: str) -> list[Row]:
    rows, s = [], "4 growth"
    sizes = sorted(by_size, key=int)
    base = by_size[sizes[0]]["total_cpu_ms_per_msg"] if sizes else None
    for size in sizes:
        m, load = by_size[size], f"{int(size):,} open, {level}"
        rows += [
            _row(
                s,
                engine,
                load,
                "CPU per message (kefu + storage servers)",
                "ms",
                m["total_cpu_ms_per_msg"],
                _get(b, "cpu_ms_per_msg"),
                _get(n, "cpu_ms_per_msg"),
            ),
            _row(s, engine, load, "CPU per message (kefu only)", "ms", m["cpu_ms_per_msg"]),
            _row(
                s, engine, load, f"cost ÷ cost at {int(sizes[0]):,} open", "x", _ratio(m["total_cpu_ms_per_msg"], base)
            ),
            _row(
                s,
                engine,
                load,
                "sustained msg/s",
                "msg/s",
                m["e2e_rate_per_s"],
                _get(b, "rate_per_s"),
                _get(n, "e2e_rate_per_s"),
            ),
            _row(s, engine, load, "other load on the machine", "%", m.get("other_load_pct")),
        ]
    return rows


def _scaling_rows(sc: dict[str, Any], bare: dict[str, Any], nb: dict[str, Any]) -> list[Row]:
    level = sc.get("level", "")
    b, n = _get(bare, "closed", level, "rate_per_s"), _get(nb, "closed", level, "e2e_rate_per_s")
    budgeted = sc.get("budgeted") or {}
    # budget used near 100 %: kefu's own budget was what limited the rate, not the servers or the load
    extra = [("CPU per message", "ms", "cpu_ms_per_msg"), ("budget used", "%", "budget_used_pct")]
    rows = _scaling_pair(budgeted, f"{budgeted.get('share')} of a core each, {level}", b, n, extra)
    # machine busy near 100 %: a second process has no CPU to add, the servers and the load share the cores
    extra = [
        ("other load on the machine", "%", "other_load_pct"),
        ("machine CPU busy (all cores)", "%", "machine_busy_pct"),
    ]
    return rows + _scaling_pair(sc, f"no budget, {level}", b, n, extra)


def _scaling_pair(runs: dict[str, Any], how: str, b: Any, n: Any, extra: list[tuple[str, str, str]]) -> list[Row]:
    """One process and two, run the same way (`how`), and the ratio of their throughputs."""
    rows, s, e = [], "4 scaling", "redis+postgres"
    for procs in ("1", "2"):
        m = runs.get(procs)
        if m:
            load = f"{_procs(procs)}, {how}"
            rows += [
                _row(s, e, load, "sustained msg/s", "msg/s", m["e2e_rate_per_s"], b, n),
                _row(s, e, load, "not relayed", "msgs", m["lost"]),
                *(_row(s, e, load, figure, unit, m.get(key)) for figure, unit, key in extra),
            ]
    if runs.get("1") and runs.get("2"):
        ratio = _ratio(runs["2"]["e2e_rate_per_s"], runs["1"]["e2e_rate_per_s"])
        rows.append(_row(s, e, f"2 vs 1, {how}", "throughput ratio", "x", ratio))
    return rows


def _procs(n: str) -> str:
    return f"{n} process{'es' if n != '1' else ''}"


def _instruction_rows(ins: dict[str, Any]) -> list[Row]:
    """Counted by callgrind, not timed: the same on a slow or a drifting machine (bench/instructions.py)."""
    rows, s = [], "5 instructions (callgrind)"
    load = f"{ins.get('messages')} msgs, c{ins.get('concurrency')}"
    b, n = _get(ins, "bare", "per_msg"), _get(ins, "nonebot", "per_msg")
    if b is not None:
        rows.append(_row("baseline (a) bare decrypt+parse", "-", load, "instructions per message (ack)", "instr", b))
    if n is not None:
        rows.append(_row("baseline (b) NoneBot2", "-", load, "instructions per message (reply sent)", "instr", n))
    for engine in ("memory+sqlite", "redis+postgres"):
        if ins.get(engine):
            figure = "instructions per message, end to end (kefu's process only)"
            rows.append(_row(s, engine, load, figure, "instr", ins[engine]["per_msg"], b, n))
    one, two = _get(ins, "redis+postgres", "per_msg"), _get(ins, "redis+postgres, 2 processes", "per_msg")
    if two is not None:
        e, figure = "redis+postgres", "instructions per message, end to end (both processes)"
        rows.append(_row(s, e, f"2 processes, {load}", figure, "instr", two, b, n))
        # what two processes would relay at equal budgets if each instruction took as long as with one
        rows.append(
            _row(s, e, f"2 vs 1, {load}", "throughput ratio at equal work per instruction", "x", _ratio(2 * one, two))
        )
    return rows


# -- targets ---------------------------------------------------------------------------


def evaluate_targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured ratio(s) and met / missed / not measured."""
    out: list[dict[str, Any]] = []
    bare, nb = res.get("bare", {}), res.get("nonebot", {})

    def add(name: str, goal: str, checks: list[tuple[str, float | None, bool | None]]) -> None:
        known = [ok for _, _, ok in checks if ok is not None]
        met = None if not known or len(known) < len(checks) else all(known)
        out.append(
            {
                "target": name,
                "goal": goal,
                "met": met,
                "measured": [{"where": w, "value": v, "ok": ok} for w, v, ok in checks],
            }
        )

    checks, how = [], ""
    for engine, by_level in res.get("ingest", {}).items():
        for level, m in by_level.items():
            r = _ratio(m["rate_per_s"], _get(_bare_for_ingest(m, bare, level), "rate_per_s"))
            checks.append((f"{engine} {level}", r, None if r is None else r >= 0.5))
            how = " (bare run just before and just after)" if m.get("bare_beside") else how
    add("ingest >= 50% of baseline (a)", f"kefu accepted msg/s ÷ bare msg/s{how} >= 0.5", checks)

    checks = []
    for engine, by_level in res.get("e2e", {}).items():
        for level, m in by_level.items():
            r = _ratio(m["e2e_rate_per_s"], _get(nb, "closed", level, "e2e_rate_per_s"))
            checks.append((f"{engine} {level}", r, None if r is None else r >= 5))
    add("end to end >= 5x NoneBot2 (b)", "kefu sustained msg/s ÷ NoneBot2 msg/s >= 5", checks)

    checks, how = [], ""
    for engine, runs in res.get("half_rate", {}).items():
        m = runs.get("half_max_ingest")
        if m:
            checks.append((f"{engine} at {m['target_rate']:.0f} msg/s", m["ack_p99_ms"], m["ack_p99_ms"] < 20))
            if m.get("rounds"):
                how = f", the median of {len(m['rounds'])} rounds"
    add("ack p99 < 20 ms at half the maximum rate", f"p99 in ms at 50% of the best accepted msg/s{how}", checks)

    checks = []
    for engine, by_level in res.get("e2e", {}).items():
        peak = max(m["peak_rss_mb"] for m in by_level.values())
        r = _ratio(peak, nb.get("peak_rss_mb"))
        checks.append((engine, r, None if r is None else r <= 1.5))
    add("peak RSS <= 1.5x NoneBot2's", "kefu peak RSS ÷ NoneBot2 peak RSS <= 1.5", checks)

    checks = []
    for engine, by_size in res.get("growth", {}).items():
        sizes = sorted(by_size, key=int)
        if len(sizes) >= 2:
            base = by_size[sizes[0]]["total_cpu_ms_per_msg"]
            worst = max(by_size[s]["total_cpu_ms_per_msg"] for s in sizes)
            r = _ratio(worst, base)
            checks.append(
                (f"{engine} {int(sizes[0]):,} -> {int(sizes[-1]):,} open", r, None if r is None else r <= 1.2)
            )
    add(
        "cost per message flat (within 20%) from 100 to 100,000 open conversations",
        "worst CPU per message (kefu + storage servers) ÷ the same at the smallest size <= 1.2",
        checks,
    )

    # judged where every process had the same CPU budget (bench/budget.py): unconstrained, a second
    # process on this machine shares a core with the servers and the load, and shows the machine
    sc = res.get("scaling", {})
    budgeted, where = sc.get("budgeted"), "redis+postgres"
    if budgeted:
        sc, where = budgeted, f"redis+postgres, {budgeted['share']} of a core each"
    r = _ratio(_get(sc, "2", "e2e_rate_per_s"), _get(sc, "1", "e2e_rate_per_s"))
    add(
        "2 processes >= 1.7x one (Redis)",
        "sustained msg/s with 2 ÷ with 1 >= 1.7, each process given the same CPU budget where it can be",
        [(where, r, None if r is None else r >= 1.7)],
    )
    return out


# -- Markdown --------------------------------------------------------------------------


def _fmt(v: float | None) -> str:
    if v is None:
        return "–"
    if isinstance(v, int) or abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def markdown(res: dict[str, Any], rows: list[Row], targets: list[dict[str, Any]]) -> str:
    meta = res.get("meta", {})
    lines = [
        f"kefu benchmark, {meta.get('date', '')}, {meta.get('cores', '?')} cores ({meta.get('cpu_model', '')}), "
        f"mode {meta.get('mode', '')}, {meta.get('wall_seconds', '?')} s",
        "",
        f"kefu under test: {meta.get('kefu_source', '')}.",
        f"Placement: {meta.get('placement', '')}.",
        f"Other processes on the machine used {_fmt(res.get('other_load_pct'))} % of its CPU during the run "
        "(figures are disturbed by that much load; per-run values are in the table).",
        "Ratios are kefu ÷ baseline at the same load: (a) bare aiohttp + wechatpy decrypt/parse, "
        "(b) NoneBot2 + OneBot v11 adapter. For msg/s higher is better; for ms, MiB, CPU and instructions "
        "lower is better.",
        "Each baseline's closed-loop runs are made twice, before kefu's runs and after them; its figures are "
        "the mean of the two rounds, and its drift row says how far the machine's speed moved in between.",
        "",
        "| part | engine | load | figure | kefu | (a) bare | ÷ (a) | (b) NoneBot2 | ÷ (b) |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        unit = "" if r.value is None else ("×" if r.unit == "x" else f" {r.unit}")
        lines.append(
            f"| {r.section} | {r.engine} | {r.load} | {r.figure} | {_fmt(r.value)}{unit} "
            f"| {_fmt(r.bare)} | {_fmt(r.vs_bare)} | {_fmt(r.nonebot)} | {_fmt(r.vs_nonebot)} |"
        )
    lines += ["", "| target | met | measured |", "|---|---|---|"]
    for t in targets:
        met = {True: "met", False: "**missed**", None: "not measured"}[t["met"]]
        measured = "; ".join(f"{m['where']}: {_fmt(m['value'])}" for m in t["measured"]) or "–"
        lines.append(f"| {t['target']} | {met} | {measured} |")
    notes = meta.get("notes", [])
    if notes:
        lines += ["", "Notes:", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"
