"""Instructions per message, counted by valgrind's callgrind in each server under test.

A virtual machine's speed drifts (another tenant, the hypervisor taking time), and with it every
msg/s and ms figure; the number of instructions the same code runs for the same load does not
(the same run counted twice differs by well under 1 %). So beside the timed figures, each server
handles a few hundred messages under callgrind, counted from the first measured message to the
last: bare and NoneBot2 their acks and replies, kefu every relay logged. What is not counted:
time in the kernel (system calls), and the work of the Redis and PostgreSQL servers.

Instrumentation is off while a server starts and warms up (`--instr-atstart=no`) and switched
on with `callgrind_control` just before the measured messages.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["available", "callgrind_argv", "Counter", "counting", "read_total"]


def available() -> bool:
    return shutil.which("valgrind") is not None and shutil.which("callgrind_control") is not None


def callgrind_argv(argv: list[str], out_file: Path) -> list[str]:
    """`argv` under callgrind, instrumentation off until `counting` turns it on."""
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_file}", *argv]


def read_total(dump: Path) -> int:
    """The instruction count of a callgrind dump (its `summary:` or `totals:` line)."""
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise ValueError(f"{dump}: no summary line (not a callgrind dump?)")


async def _control(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        "callgrind_control", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"callgrind_control {' '.join(args)}: {err.decode(errors='replace').strip()}")


@dataclass
class Counter:
    instructions: int = 0


@asynccontextmanager
async def counting(pid: int, out_file: Path) -> AsyncIterator[Counter]:
    """Count the instructions process `pid` (started with `callgrind_argv`) runs inside the block."""
    before = set(out_file.parent.glob(out_file.name + ".*"))
    await _control("--instr=on", str(pid))
    await _control("--zero", str(pid))
    counter = Counter()
    yield counter
    await _control("--dump", str(pid))
    await _control("--instr=off", str(pid))
    dumps = sorted(set(out_file.parent.glob(out_file.name + ".*")) - before, key=lambda p: p.stat().st_mtime)
    if not dumps:
        raise RuntimeError(f"callgrind wrote no dump next to {out_file}")
    counter.instructions = read_total(dumps[-1])
