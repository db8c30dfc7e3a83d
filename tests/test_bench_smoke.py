"""The benchmark cannot rot: `bench/run.py --smoke` (the embedded default, a hundred or so messages,
baseline (a) beside it) must finish in seconds and report its figures. The full benchmark, and the
tests of its own machinery (bench/tests), are not part of the product's test run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_smoke_benchmark_relays_every_message_and_reports_its_figures(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-4000:]

    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert data["meta"]["mode"] == "smoke" and data["nonebot"] == {"skipped": "--skip-nonebot"}
    assert data["bare"]["closed"]["c16"]["rate_per_s"] > 0
    ingest = data["ingest"]["memory+sqlite"]["c16"]
    assert ingest["accepted"] == ingest["sent"] > 0 and ingest["errors"] == 0
    e2e = data["e2e"]["memory+sqlite"]["c16"]
    assert e2e["relayed"] == e2e["accepted"] > 0, e2e  # every message reached the desk emulator
    assert e2e["transcript"]["inbound_logged"] == e2e["accepted"]
    assert e2e["transcript"]["relays_logged_sent"] == e2e["relayed"]
    assert data["half_rate"]["memory+sqlite"]["half_max_ingest"]["ack_p99_ms"] > 0
    assert data["growth"]["memory+sqlite"]["100"]["cpu_ms_per_msg"] > 0
    figures = {row["figure"]: row["value"] for row in data["figures"]}
    for name in ("accepted msg/s", "sustained msg/s", "end-to-end p50", "end-to-end p99", "peak RSS"):
        assert figures[name] is not None and figures[name] > 0, name
