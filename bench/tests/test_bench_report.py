"""The benchmark's verdict on "2 processes >= 1.7x one" (bench/report.py): judged on the runs in
which every process had the same CPU budget where they were made, on the unconstrained runs
otherwise, and always saying which."""

from __future__ import annotations

from bench.report import build_rows, evaluate_targets
from bench.rounds import median_round, merge_rounds


def _scaling_target(results: dict) -> dict:
    return next(t for t in evaluate_targets(results) if t["target"].startswith("2 processes"))


def _run(rate: float) -> dict:
    return {"e2e_rate_per_s": rate, "lost": 0}


def test_scaling_is_judged_on_equal_budgets_where_they_were_measured() -> None:
    results = {
        "scaling": {
            "level": "c64",
            "1": _run(500.0),
            "2": _run(400.0),  # the machine's two cores were already busy: not what a process adds
            "budgeted": {"share": 0.4, "1": _run(200.0), "2": _run(360.0)},
        }
    }
    target = _scaling_target(results)
    assert target["met"] is True
    assert target["measured"] == [{"where": "redis+postgres, 0.4 of a core each", "value": 1.8, "ok": True}]
    ratios = {r.load: r.value for r in build_rows(results) if r.figure == "throughput ratio"}
    assert ratios == {"2 vs 1, 0.4 of a core each, c64": 1.8, "2 vs 1, no budget, c64": 0.8}


def test_without_budgets_the_unconstrained_runs_are_judged() -> None:
    target = _scaling_target({"scaling": {"level": "c64", "1": _run(500.0), "2": _run(400.0)}})
    assert target["met"] is False
    assert target["measured"] == [{"where": "redis+postgres", "value": 0.8, "ok": False}]


def test_two_counted_processes_give_the_work_a_second_process_adds() -> None:
    ins = {"messages": 400, "concurrency": 8, "redis+postgres": {"per_msg": 4_500_000}}
    ins["redis+postgres, 2 processes"] = {"per_msg": 4_800_000}
    rows = {r.figure: r.value for r in build_rows({"instructions": ins}) if r.load.startswith("2 ")}
    assert rows["instructions per message, end to end (both processes)"] == 4_800_000
    assert rows["throughput ratio at equal work per instruction"] == 1.875  # 2 x 4.5 / 4.8


def test_ack_p99_at_half_the_best_rate_is_judged_on_the_median_round_and_shows_the_spread() -> None:
    rounds = [
        {"target_rate": 1600.0, "ack_p50_ms": p50, "ack_p99_ms": p99, "errors": 0}
        for p99, p50 in ((62.0, 9.0), (9.5, 1.5), (14.0, 2.0))
    ]
    results = {"half_rate": {"redis+postgres": {"half_max_ingest": median_round(rounds, "ack_p99_ms")}}}
    target = next(t for t in evaluate_targets(results) if t["target"].startswith("ack p99"))
    assert target["met"] is True and "median of 3 rounds" in target["goal"]
    assert target["measured"] == [{"where": "redis+postgres at 1600 msg/s", "value": 14.0, "ok": True}]
    rows = {r.figure: r.value for r in build_rows(results)}
    assert rows["ack p99"] == 14.0 and rows["ack p99, lowest round"] == 9.5 and rows["ack p99, highest round"] == 62.0


def test_ingest_is_judged_against_the_bare_runs_made_just_before_and_after_it() -> None:
    beside = merge_rounds({"rate_per_s": 3000.0, "ack_p50_ms": 2.0}, {"rate_per_s": 3400.0, "ack_p50_ms": 2.0})
    ingest = {"rate_per_s": 1700.0, "ack_p50_ms": 4.0, "ack_p99_ms": 9.0, "errors": 0, "bare_beside": beside}
    results = {
        "bare": {"closed": {"c16": {"rate_per_s": 5000.0, "ack_p99_ms": 6.0}}},  # its rounds, minutes away
        "ingest": {"redis+postgres": {"c16": ingest}},
    }
    target = next(t for t in evaluate_targets(results) if t["target"].startswith("ingest"))
    assert target["measured"] == [{"where": "redis+postgres c16", "value": 0.531, "ok": True}]  # 1700 / 3200
    assert "just before and just after" in target["goal"]
    rows = {r.figure: r for r in build_rows(results) if r.section == "1 ingest"}
    assert rows["accepted msg/s"].bare == 3200.0 and rows["ack p50"].vs_bare == 2.0
    assert rows["baseline (a) beside it: drift, after vs before"].value == 12.5  # (3400 - 3000) / 3200
    del ingest["bare_beside"]  # a result without them: the baseline's own rounds
    assert next(t for t in evaluate_targets(results) if t["target"].startswith("ingest"))["met"] is False
