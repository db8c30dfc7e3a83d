"""The benchmark's verdict on "2 processes >= 1.7x one" (bench/report.py): judged on the runs in
which every process had the same CPU budget where they were made, on the unconstrained runs
otherwise, and always saying which."""

from __future__ import annotations

from bench.report import build_rows, evaluate_targets


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
