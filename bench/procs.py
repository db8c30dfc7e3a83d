"""Child processes of the benchmark: started pinned to a core, measured through /proc, stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Child",
    "Placement",
    "placement",
    "free_port",
    "start_child",
    "cpu_seconds",
    "peak_rss_mb",
    "CpuWatch",
    "CHILD_PIDS",
]

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Placement:
    """Which core the servers under test and the load generator run on (None: not pinned)."""

    server: int | None
    load: int | None
    second_server: int | None  # for the 2-process run

    def describe(self) -> str:
        if self.server is None:
            return "not pinned (fewer than 2 usable cores)"
        return f"server(s) under test on core {self.server}, load generator and emulators on core {self.load}"


def placement() -> Placement:
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) < 2:
        return Placement(None, None, None)
    return Placement(usable[0], usable[1], usable[1])


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
    CHILD_PIDS.add(proc.pid)
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


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM), in MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


CHILD_PIDS: set[int] = set()  # every process start_child started


def _read_proc(pid: str) -> tuple[str, str, list[str]]:
    """(comm, cmdline for the storage servers, stat fields after the command name)."""
    with open(f"/proc/{pid}/comm", encoding="ascii", errors="replace") as f:
        comm = f.read().strip()
    cmdline = ""
    if comm in ("redis-server", "postgres"):
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
    return comm, cmdline, _stat_fields(f"/proc/{pid}/stat")


class CpuWatch:
    """Where the machine's CPU time goes while the bench runs, sampled every `interval` seconds.

    - bench: this process (load generator, emulators); children: the servers it started;
    - db: the storage servers' work for the bench: Redis, PostgreSQL's background processes and
      its backends connected to the bench's database, plus what PostgreSQL backends that ended
      between two samples used (read from the postmaster's reaped-children time: a connection
      opened and closed within a sample would otherwise be missed);
    - foreign: every other process, PostgreSQL backends of other databases included. Other
      load disturbs the figures, so it is reported with each run.
    """

    def __init__(self, db_name: str = "", interval: float = 0.5):
        self.db_name = db_name
        self.interval = interval
        self.totals = {"bench": 0.0, "children": 0.0, "db": 0.0, "foreign": 0.0}
        self._last: dict[int, float] = {}  # pid -> CPU seconds when last seen
        self._postmaster: int | None = None  # the PostgreSQL server holding the bench's database
        self._pg_children: set[int] = set()  # its processes when last seen
        self._reaped: tuple[int, float] | None = None  # (postmaster, its reaped children's CPU) last seen
        self._task: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self.steal = 0.0  # the machine's steal time when last sampled (seconds, all cores)

    def _category(self, pid: int, comm: str, cmdline: str) -> str:
        if pid == os.getpid():
            return "bench"
        if pid in CHILD_PIDS:
            return "children"
        if comm == "redis-server":
            return "db"
        if comm == "postgres":
            is_backend = "127.0.0.1(" in cmdline or "[local]" in cmdline
            return "db" if not is_backend or (self.db_name and self.db_name in cmdline) else "foreign"
        return "foreign"

    def sample(self) -> None:
        with self._lock:
            self._sample()

    def _sample(self) -> None:
        self.steal = _steal_seconds()
        first = not self._last
        seen: dict[int, float] = {}
        parents: dict[int, int] = {}  # PostgreSQL process -> its parent
        child_time: dict[int, float] = {}  # PostgreSQL process -> CPU of its reaped children
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            try:
                comm, cmdline, fields = _read_proc(entry)
            except (OSError, IndexError, ValueError):
                continue  # ended meanwhile
            cpu = (int(fields[11]) + int(fields[12])) / _TICK
            seen[pid] = cpu
            category = self._category(pid, comm, cmdline)
            if comm == "postgres":
                parents[pid] = int(fields[1])
                child_time[pid] = (int(fields[13]) + int(fields[14])) / _TICK
                if category == "db" and self.db_name and self.db_name in cmdline:
                    self._postmaster = parents[pid]  # the server the bench's database lives on
            if not first:
                self.totals[category] += cpu - self._last.get(pid, 0.0)
        self._count_ended_backends(seen, parents, child_time)
        self._last = seen

    def _count_ended_backends(
        self, seen: dict[int, float], parents: dict[int, int], child_time: dict[int, float]
    ) -> None:
        """Backends that ended since the last sample: the part of their CPU time no sample saw."""
        pm = self._postmaster
        reaped = child_time.get(pm) if pm is not None else None
        if reaped is not None and self._reaped is not None and self._reaped[0] == pm:
            gone = sum(self._last[pid] for pid in self._pg_children - set(seen))
            self.totals["db"] += max(0.0, reaped - self._reaped[1] - gone)
        self._reaped = (pm, reaped) if reaped is not None else None
        self._pg_children = {pid for pid, parent in parents.items() if parent == pm}

    async def _loop(self) -> None:
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="cpu-watch")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def snapshot(self) -> dict[str, float]:
        """The totals as of now (takes a fresh sample first), and the steal time under "steal"."""
        await asyncio.to_thread(self.sample)
        return {**self.totals, "steal": self.steal}


def _steal_seconds() -> float:
    """CPU time the hypervisor gave elsewhere while this virtual machine's cores had work
    (all cores; /proc/stat counts it in 10 ms ticks): a process is stalled meanwhile."""
    with open("/proc/stat") as f:
        parts = f.readline().split()
    return int(parts[8]) / _TICK if len(parts) > 8 else 0.0
