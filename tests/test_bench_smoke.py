"""The benchmark cannot rot: `bench/run.py --quick` (every figure of issue 22 at small loads, both
engine pairs) writes results.json with exactly the issue's keys, and every
message it sent was relayed: nothing lost in the burst, no failed ack."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
ENGINE = {"embedded", "redis_pg"}
KEYS = {
    "latency": {"to_agent_p50_ms", "to_agent_p99_ms", "to_customer_p50_ms", "to_customer_p99_ms", "cpu_ms_per_msg"},
    "burst": {"ack_p99_ms", "failed_acks", "lost", "drain_s"},
    "throughput": {"msg_per_s", "vs_nonebot2", "vs_bare_relay"},
    "growth": {"cost_ratio_100k_vs_100"},
}


def test_quick_benchmark_relays_every_message_and_reports_the_issues_keys(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]

    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert set(data) == {"date", "commit", "cores", *KEYS, "idle", "nonebot2", "scale_out"}
    for section, keys in KEYS.items():
        assert set(data[section]) == ENGINE, section
        for engine in ENGINE:
            assert set(data[section][engine]) == keys, (section, engine)
    assert set(data["idle"]) == {"cpu_ms_per_s", "rss_mib", "rss_mib_100k_open"}
    assert set(data["nonebot2"]) == {"msg_per_s", "idle_rss_mib"}
    assert set(data["scale_out"]) == {"cpu_per_msg_ratio_2_vs_1"}
    for engine in ENGINE:
        burst, latency = data["burst"][engine], data["latency"][engine]
        assert burst["failed_acks"] == 0 and burst["lost"] == 0, (engine, burst)
        assert latency["to_agent_p99_ms"] > 0 and latency["to_customer_p99_ms"] > 0, (engine, latency)
        assert data["throughput"][engine]["msg_per_s"] > 0 and data["throughput"][engine]["vs_bare_relay"] > 0
    # the latency runs' log lines: every customer message relayed, every agent reply answered
    counts = re.findall(r"relayed (\d+)/(\d+), answered (\d+)/(\d+)", proc.stderr)
    assert len(counts) == 2 and all(a == b and c == d for a, b, c, d in counts), counts
    assert "| latency | embedded | to_agent_p99_ms |" in (tmp_path / "RESULTS.md").read_text(encoding="utf-8")


def test_a_run_keeps_the_recorded_history_and_the_sections_after_it(tmp_path: Path) -> None:
    from bench.verdicts import write_markdown

    data = json.loads((ROOT / "bench" / "results.json").read_text(encoding="utf-8"))
    path = tmp_path / "RESULTS.md"
    path.write_text("# old\n\n## History\n\n- an earlier run\n\n## Knowledge base\n\n| a | b |\n", encoding="utf-8")
    write_markdown(data, path, quick=False)
    text = path.read_text(encoding="utf-8")
    assert "- an earlier run" in text and text.count(f"`{data['commit']}`") == 2  # the table's line and history
    assert text.endswith("## Knowledge base\n\n| a | b |\n")
    assert text.index("## History") < text.index("- an earlier run") < text.index("## Knowledge base")
