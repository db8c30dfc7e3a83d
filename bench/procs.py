"""Child processes of the benchmark: started pinned to a core, measured through /proc, stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Child", "cores", "free_port", "start_child", "cpu_seconds", "rss_mib", "pin_self"]

_TICK = os.sysconf("SC_CLK_TCK")


def cores() -> tuple[int | None, int | None]:
    """(the servers' core, the load generator's core); not pinned with fewer than 2 cores."""
    usable = sorted(os.sched_getaffinity(0))
    return (usable[0], usable[1]) if len(usable) >= 2 else (None, None)


def pin_self(core: int | None) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Child:
    name: str
    proc: asyncio.subprocess.Process
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def stop(self, grace: float = 15.0) -> None:
        if self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), grace)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


async def start_child(
    name: str,
    argv: list[str],
    *,
    port: int,
    core: int | None,
    log_path: Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    ready_timeout: float = 60.0,
) -> Child:
    """Start `argv` (under `taskset -c core`), wait until it accepts connections on `port`."""
    cmd = (["taskset", "-c", str(core)] if core is not None else []) + argv
    log = log_path.open("wb")
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=str(cwd), env=env, stdout=log, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL
        )
    finally:
        log.close()  # the child keeps its own descriptor
    child = Child(name, proc, port, log_path)
    try:
        await _wait_listening(child, ready_timeout)
    except BaseException:  # not ready, or the bench is interrupted: never leave it running
        await asyncio.shield(child.stop())
        raise
    return child


async def _wait_listening(child: Child, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if child.proc.returncode is not None:
            raise RuntimeError(
                f"{child.name} exited with {child.proc.returncode} before listening:\n{child.log_tail()}"
            )
        if await _accepts(child.port):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(
        f"{child.name} did not listen on 127.0.0.1:{child.port} within {timeout:.0f}s:\n{child.log_tail()}"
    )


async def _accepts(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


def _stat_fields(path: str) -> list[str]:
    with open(path, encoding="ascii", errors="replace") as f:
        raw = f.read()
    return raw.rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads included."""
    fields = _stat_fields(f"/proc/{pid}/stat")
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """The process's resident set size now (VmRSS) or at its peak (VmHWM), in MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0
