"""The benchmark cannot rot: a small run of `bench/run.py --quick` (a few hundred messages, both
engine pairs, growth and two processes) must finish and report every figure. CI does not run the
full benchmark; this runs the same code on a small load.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.budget import CpuBudget
from tests.conftest import need_server

ROOT = Path(__file__).parent.parent

POSITIVE = {
    "accepted msg/s",
    "sustained msg/s",
    "ack p50",
    "ack p99",
    "end-to-end p50",
    "end-to-end p99",
    "CPU per message",
    "peak RSS",
}


def test_quick_benchmark_reports_every_figure(tmp_path: Path) -> None:
    need_server("Redis", 6379)
    need_server("PostgreSQL", 5432)
    cmd = [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--skip-nonebot", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]

    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert {"meta", "bare", "nonebot", "ingest", "e2e", "half_rate", "growth", "scaling", "figures", "targets"} <= set(
        data
    )
    assert data["meta"]["mode"] == "quick" and data["meta"]["cores"] >= 1
    assert data["nonebot"] == {"skipped": "--skip-nonebot"}
    bare = data["bare"]["closed"]["c16"]
    assert bare["rate_per_s"] > 0
    # measured before kefu's runs and after; the figure is their mean, the drift between them kept
    assert [r["rate_per_s"] > 0 for r in bare["rounds"]] == [True, True] and isinstance(bare["drift_pct"], float)

    for engine in ("memory+sqlite", "redis+postgres"):
        ingest = data["ingest"][engine]["c16"]
        assert ingest["accepted"] == ingest["sent"] > 0 and ingest["errors"] == 0
        e2e = data["e2e"][engine]["c16"]
        assert e2e["relayed"] == e2e["accepted"] > 0, e2e  # every message reached the desk emulator
        assert e2e["transcript"]["inbound_logged"] == e2e["accepted"]
        assert e2e["transcript"]["relays_logged_sent"] == e2e["relayed"]
        assert data["half_rate"][engine]["half_max_ingest"]["ack_p99_ms"] > 0
        # the load generator's own longest pause, beside the latencies it would inflate
        assert 0 <= data["half_rate"][engine]["half_max_ingest"]["generator_pause_ms"] < 1000
        assert data["half_rate"][engine]["half_max_ingest"]["kefu_loop_late_25ms"] >= 0  # and kefu's own loop
        assert data["half_rate"][engine]["half_max_ingest"]["steal_ms"] >= 0  # and the hypervisor's
        assert set(data["growth"][engine]) == {"100", "1000"}
        assert all(m["cpu_ms_per_msg"] > 0 for m in data["growth"][engine].values())
        assert all(len(m["rounds"]) == 2 for m in data["growth"][engine].values())  # each size twice
    assert data["scaling"]["1"]["e2e_rate_per_s"] > 0 and data["scaling"]["2"]["e2e_rate_per_s"] > 0
    probe, _ = CpuBudget.create("smoke-probe", 0.4)
    if probe is not None:  # where a CPU quota can be set, the judged ratio is the budgeted one
        probe.remove()
        budgeted = data["scaling"]["budgeted"]
        for procs in ("1", "2"):
            assert budgeted[procs]["relayed"] == budgeted[procs]["accepted"] > 0, budgeted[procs]
            assert len(budgeted[procs]["rounds"]) == 2 and budgeted[procs]["budget_used_pct"] > 0  # 1, 2, 2, 1
        scaling = next(t for t in data["targets"] if t["target"].startswith("2 processes"))
        assert "of a core each" in scaling["measured"][0]["where"]

    checked = [row for row in data["figures"] if row["figure"] in POSITIVE]
    assert len(checked) >= 20
    for row in checked:
        assert row["value"] is not None and row["value"] > 0, row
        assert row["vs_bare"] is None or row["vs_bare"] > 0, row
    assert len(data["targets"]) == 6

    table = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "| part | engine | load | figure | kefu |" in table and "ingest >= 50% of baseline (a)" in table
    assert "load generator's longest pause" in table and "kefu's loop late > 25 ms" in table
    assert "CPU stolen by the hypervisor" in table
