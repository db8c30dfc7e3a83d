"""The benchmark's instruction counts (bench/instructions.py) are what they are for: the same
load counts the same instructions, whatever else the machine is doing. A real server under
callgrind: the bare baseline, counted over two equal loads."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bench import instructions
from bench.httpload import closed_loop
from bench.kefu_side import Callbacks, Emulators
from bench.procs import free_port, start_child

ROOT = Path(__file__).parent.parent.parent


async def test_the_same_load_counts_the_same_instructions(tmp_path: Path) -> None:
    if not instructions.available():
        if os.environ.get("CI"):  # .ci/run installs it: a CI run without it must not pass quietly
            pytest.fail("valgrind (callgrind_control) is required in CI but is not installed")
        pytest.skip("valgrind is not installed")
    emu, port, out = Emulators(), free_port(), tmp_path / "callgrind.out"
    server = [sys.executable, str(ROOT / "bench" / "bare_server.py"), str(port), emu.wx_token, emu.wx_key]
    argv = instructions.callgrind_argv([*server, emu.wechat.app_id], out)
    log = tmp_path / "bare.log"
    child = await start_child("bare", argv, port=port, core=None, log_path=log, cwd=ROOT, ready_timeout=120)
    per_msg = []
    try:
        await closed_loop(Callbacks.build(emu, "warm", 10, 1, 900_000_000).requests([port]), 2, time_limit=60)
        for k in (1, 2):
            reqs = Callbacks.build(emu, f"load{k}", 40, 4, k * 1_000_000).requests([port])
            async with instructions.counting(child.pid, out) as count:
                res = await closed_loop(reqs, 4, time_limit=120)
            assert res.ok == 40 and res.errors == 0
            per_msg.append(count.instructions / res.ok)
    finally:
        await child.stop()
    assert min(per_msg) > 100_000, per_msg  # verifying, decrypting and parsing a callback in Python
    assert abs(per_msg[0] - per_msg[1]) < 0.05 * per_msg[0], per_msg
