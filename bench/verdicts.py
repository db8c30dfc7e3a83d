"""bench/RESULTS.md from results.json: every figure with its target (issue 22) and verdict, and
the history, one line per recorded full run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["TARGETS", "write_markdown"]

ENGINES = ("embedded", "redis_pg")
# (section, key, engine or None, comparison, target); engine None: the figure is not per engine
TARGETS: list[tuple[str, str, str | None, str, float | None]] = [
    *[
        (s, k, e, "<=", t)
        for e in ENGINES
        for s, k, t in (
            ("latency", "to_agent_p50_ms", 5.0),
            ("latency", "to_agent_p99_ms", 20.0),
            ("latency", "to_customer_p50_ms", 5.0),
            ("latency", "to_customer_p99_ms", 20.0),
            ("latency", "cpu_ms_per_msg", 2.0),
            ("burst", "ack_p99_ms", 1000.0),
            ("burst", "failed_acks", 0),
            ("burst", "lost", 0),
            ("burst", "drain_s", None),
            ("throughput", "msg_per_s", None),
        )
    ],
    ("throughput", "vs_nonebot2", "embedded", ">=", 2.0),
    ("throughput", "vs_nonebot2", "redis_pg", ">=", 1.0),
    ("throughput", "vs_bare_relay", "embedded", ">=", 0.4),
    ("throughput", "vs_bare_relay", "redis_pg", ">=", 0.4),
    ("growth", "cost_ratio_100k_vs_100", "embedded", "<=", 1.2),
    ("growth", "cost_ratio_100k_vs_100", "redis_pg", "<=", 1.2),
    ("idle", "cpu_ms_per_s", None, "<=", 2.0),
    ("idle", "rss_mib", None, "", None),
    ("idle", "rss_mib_100k_open", None, "", None),
    ("nonebot2", "msg_per_s", None, "", None),
    ("nonebot2", "idle_rss_mib", None, "", None),
    ("scale_out", "cpu_per_msg_ratio_2_vs_1", None, "<=", 1.1),
]
HISTORY = "## History"


def verdict(value: Any, op: str, target: float | None) -> str:
    if target is None:
        return "–"
    if value is None:
        return "not measured"
    met = value <= target if op == "<=" else value >= target
    return "met" if met else "**missed**"


def rows(results: dict[str, Any]) -> tuple[list[str], int, int]:
    lines, met, judged = [], 0, 0
    for section, key, engine, op, target in TARGETS:
        value = results[section][engine][key] if engine else results[section][key]
        v = verdict(value, op, target)
        met, judged = met + (v == "met"), judged + (target is not None)
        goal = f"{op} {target:g}" if target is not None else ""
        shown = "–" if value is None else f"{value:g}"
        lines.append(f"| {section} | {engine or ''} | {key} | {shown} | {goal} | {v} |")
    return lines, met, judged


def history_line(r: dict[str, Any], met: int, judged: int) -> str:
    lat, thr = r["latency"], r["throughput"]
    return (
        f"- {r['date']} `{r['commit']}`: {met}/{judged} targets met; to agent p99 "
        f"{lat['embedded']['to_agent_p99_ms']:g} / {lat['redis_pg']['to_agent_p99_ms']:g} ms, CPU/msg "
        f"{lat['embedded']['cpu_ms_per_msg']:g} / {lat['redis_pg']['cpu_ms_per_msg']:g} ms, "
        f"{thr['embedded']['msg_per_s']:g} / {thr['redis_pg']['msg_per_s']:g} msg/s (embedded / Redis+PG), "
        f"idle {r['idle']['cpu_ms_per_s']:g} ms/s"
    )


def write_markdown(results: dict[str, Any], path: Path, *, quick: bool) -> None:
    lines, met, judged = rows(results)
    history: list[str] = []
    tail = ""  # sections after the history (bench/faq.py's) stay as they are
    if path.exists():  # keep the recorded runs' lines
        text = path.read_text(encoding="utf-8")
        if HISTORY in text:
            runs, _, rest = text.split(HISTORY, 1)[1].partition("\n## ")
            history = [ln for ln in runs.splitlines() if ln.startswith("- ")]
            tail = "## " + rest if rest else ""
    if not quick:
        history.append(history_line(results, met, judged))
    head = [
        "# kefu benchmark: results",
        "",
        f"{'Quick' if quick else 'Full'} run of {results['date']} UTC, commit `{results['commit']}`, "
        f"{results['cores']} cores (`python bench/run.py{' --quick' if quick else ''}`; what each figure "
        f"is: bench/README.md). {met} of {judged} targets met.",
        "",
        "| part | engine | figure | value | target | verdict |",
        "|---|---|---|---:|---|---|",
    ]
    body = [*head, *lines, "", HISTORY, "", *history, ""]
    path.write_text("\n".join(body) + ("\n" + tail if tail else ""), encoding="utf-8")
