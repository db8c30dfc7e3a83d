"""The benchmark's baselines are measured before and after kefu's runs; the two rounds merge
into one figure per level, the drift between them kept (bench/rounds.py)."""

from __future__ import annotations

from bench.rounds import bracket, median_round, merge_rounds


def _closed(rate: float, p99: float, sent: int, series: list[int]) -> dict:
    return {"rate_per_s": rate, "ack_p99_ms": p99, "sent": sent, "errors": 0, "backlog_series": series, "wait": "ok"}


def test_baseline_rounds_merge_into_their_mean_with_the_drift_between_them() -> None:
    first = {"closed": {"c16": _closed(2000.0, 8.0, 100, [1])}, "peak_rss_mb": 50.0}
    second = {"closed": {"c16": _closed(3000.0, 6.0, 100, [2])}, "open": {"r500": {"x": 1}}, "peak_rss_mb": 55.0}

    out = bracket(first, second)

    m = out["closed"]["c16"]
    assert m["rate_per_s"] == 2500.0 and m["ack_p99_ms"] == 7.0  # rates and latencies: the mean
    assert m["sent"] == 200  # counts: both rounds' messages
    assert m["backlog_series"] == [2] and m["wait"] == "ok"  # the rest: the second round's
    assert m["drift_pct"] == 40.0  # (3000 - 2000) / 2500
    assert m["rounds"] == [first["closed"]["c16"], second["closed"]["c16"]]
    assert out["open"] == {"r500": {"x": 1}} and out["peak_rss_mb"] == 55.0


def test_end_to_end_baseline_drift_is_measured_on_its_end_to_end_rate() -> None:
    first = {"closed": {"c16": {"rate_per_s": 900.0, "e2e_rate_per_s": 300.0}}}
    second = {"closed": {"c16": {"rate_per_s": 900.0, "e2e_rate_per_s": 330.0}}}
    assert bracket(first, second)["closed"]["c16"]["drift_pct"] == round(30 / 315 * 100, 1)


def test_a_level_or_a_baseline_missing_from_one_round_is_taken_as_it_is() -> None:
    second = {"closed": {"c16": {"rate_per_s": 10.0}, "c64": {"rate_per_s": 20.0}}}
    out = bracket({"closed": {"c16": {"rate_per_s": 30.0}}}, second)
    assert out["closed"]["c64"] == {"rate_per_s": 20.0} and out["closed"]["c16"]["rate_per_s"] == 20.0
    assert bracket({"skipped": "no venv"}, second) == second
    assert bracket({}, second) == second
    assert bracket({"closed": {}}, {"skipped": "x"}) == {"skipped": "x"}


def test_a_measurement_made_twice_keeps_what_went_wrong_in_either_run() -> None:
    first = {"e2e_rate_per_s": 400.0, "total_cpu_ms_per_msg": 2.0, "log_errors": ["p1: boom"], "lost": 1}
    second = {"e2e_rate_per_s": 600.0, "total_cpu_ms_per_msg": 1.6, "log_errors": [], "lost": 0}
    m = merge_rounds(first, second)
    assert m["total_cpu_ms_per_msg"] == 1.8 and m["lost"] == 1 and m["log_errors"] == ["p1: boom"]
    assert m["drift_pct"] == 40.0 and m["rounds"] == [first, second]


def test_more_rounds_merge_into_their_mean_and_the_drift_from_first_to_last() -> None:
    runs = [{"e2e_rate_per_s": r, "relayed": 100, "log_errors": [f"e{r}"]} for r in (200.0, 240.0, 220.0, 140.0)]
    m = merge_rounds(*runs)
    assert m["e2e_rate_per_s"] == 200.0 and m["relayed"] == 400
    assert m["drift_pct"] == -30.0  # (140 - 200) / 200
    assert m["log_errors"] == ["e200.0", "e240.0", "e220.0", "e140.0"] and m["rounds"] == runs


def test_a_latency_made_in_rounds_is_the_median_round_with_the_lowest_and_highest_beside_it() -> None:
    runs = [{"ack_p99_ms": p99, "ack_p50_ms": p50} for p99, p50 in ((62.0, 9.0), (9.5, 1.5), (14.0, 2.0))]
    m = median_round(runs, "ack_p99_ms")
    assert m["ack_p99_ms"] == 14.0 and m["ack_p50_ms"] == 2.0  # one round's figures, not a blend
    assert m["ack_p99_ms_lowest"] == 9.5 and m["ack_p99_ms_highest"] == 62.0 and m["rounds"] == runs
    assert median_round(runs[:2], "ack_p99_ms")["ack_p99_ms"] == 62.0  # of two, the upper: never the kinder
    assert median_round(runs[:1], "ack_p99_ms") is runs[0]
