"""The benchmark's CPU budget (bench/budget.py) holds a process to its share of a core: the
2-process scaling run is judged on it, so a budget that did not bite would make that ratio say
nothing. A busy loop runs under a quarter of a core, and once without a budget to compare."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.budget import CpuBudget

SPIN = "import time\nt = time.time()\nwhile time.time() - t < 1.5: pass\nprint(time.process_time())"


def _share(argv: list[str]) -> float:
    """CPU seconds the busy loop got, per second of wall time."""
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout
    return float(out.split()[-1]) / 1.5


def test_a_process_gets_no_more_than_its_budget() -> None:
    budget, why = CpuBudget.create("test", 0.25)
    if budget is None:
        if os.environ.get("CI"):  # CI's machine can set one: the judged scaling runs must not go untested
            pytest.fail(f"a cgroup CPU quota is required in CI but cannot be made: {why}")
        pytest.skip(f"no cgroup CPU quota can be made here: {why}")
    try:
        held = _share(budget.wrap([sys.executable, "-c", SPIN]))
        periods, throttled = budget.throttled()
    finally:
        budget.remove()
    free = _share([sys.executable, "-c", SPIN])
    assert held <= 0.3, held  # a quarter of a core, with a period's slack
    assert throttled > 0 and periods >= throttled
    assert free > 2 * held, (free, held)
    assert not budget.path.exists()  # removed once its process ended
