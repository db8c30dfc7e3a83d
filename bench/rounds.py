"""Baselines measured twice, before and after kefu's runs, and merged into one figure each.

The machine's speed drifts (a VM: by up to a third within minutes), so a baseline measured once,
minutes away from the kefu run it is compared with, can move a ratio by as much. Each baseline's
closed-loop runs are made once before kefu's closed-loop runs and once after; the ratios use
their mean, and `drift_pct` says how far the second round moved from the first. Runs compared
with each other (growth sizes, one process and two) are repeated in mirrored order and merged
the same way, over as many rounds as were made. A latency judged against a bound (kefu's ack p99
at a fixed rate) is taken from the median of its rounds instead of their mean, so that one
round the machine spoiled neither fails nor passes it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["bracket", "median_round", "merge_rounds"]

_SUMMED = {"sent", "accepted", "errors", "timed_out", "relayed", "lost"}  # counts: both rounds' messages
_HIGHEST = {"backlog_max", "backlog_at_last_ack", "generator_pause_ms"}
_JOINED = {"log_errors", "error_samples"}  # what went wrong in either round
_MEAN_SUFFIXES = ("_s", "_ms", "_per_msg", "_pct")  # rates (…_per_s), times, CPU, shares


def _merge(runs: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    last = runs[-1]
    for key, b in last.items():
        values = [r.get(key) for r in runs]
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if key in _JOINED and all(isinstance(v, list) for v in values):
            out[key] = [x for v in values for x in v]
        elif not numbers:
            out[key] = b
        elif key in _SUMMED:
            out[key] = sum(values)
        elif key in _HIGHEST:
            out[key] = max(values)
        elif key.endswith(_MEAN_SUFFIXES):
            out[key] = round(sum(values) / len(values), 3)
        else:
            out[key] = b
    return out


def merge_rounds(*runs: dict[str, Any]) -> dict[str, Any]:
    """Runs of the same measurement as one: their mean, all kept, and the drift from the first to the last."""
    m = _merge(runs)
    first, last = runs[0], runs[-1]
    rate = "e2e_rate_per_s" if "e2e_rate_per_s" in last else "rate_per_s"
    if isinstance(m.get(rate), int | float) and m[rate]:
        m["drift_pct"] = round((last[rate] - first[rate]) / m[rate] * 100, 1)
    m["rounds"] = list(runs)
    return m


def bracket(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """`second` (the full baseline result: closed and fixed-rate runs) with each closed-loop
    level merged with `first`'s; both rounds are kept under `rounds`."""
    if not first or first.get("skipped") or second.get("skipped"):
        return second
    out = dict(second)
    closed: dict[str, Any] = {}
    for level, m2 in (second.get("closed") or {}).items():
        m1 = (first.get("closed") or {}).get(level)
        if not m1:
            closed[level] = m2
            continue
        closed[level] = merge_rounds(m1, m2)
    out["closed"] = closed
    peaks = [r["peak_rss_mb"] for r in (first, second) if r.get("peak_rss_mb") is not None]
    if peaks:
        out["peak_rss_mb"] = max(peaks)
    return out


def median_round(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run with the median `key` (the upper one of an even count) as the figure, every run
    kept under `rounds` and `key`'s lowest and highest beside it. A single run stands as it is."""
    if len(runs) == 1:
        return runs[0]
    ranked = sorted(runs, key=lambda r: r[key])
    out = dict(ranked[len(ranked) // 2])
    out.update(rounds=list(runs), **{f"{key}_lowest": ranked[0][key], f"{key}_highest": ranked[-1][key]})
    return out
