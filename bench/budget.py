"""A fixed CPU budget per process, from the kernel's CFS quota (a cgroup per process).

Two kefu processes can only show how kefu scales out if something other than kefu does not run
out of CPU first. On a 2-core machine that also runs Redis, PostgreSQL, the load generator and
the emulators, it does: a second unconstrained process has no core to itself. Giving every kefu
process the same budget (say 0.4 of a core, as a Kubernetes `cpu: 400m` limit would) keeps the
rest of the machine out of the way: one process has 0.4 of a core, two have 0.4 each, and the
ratio of their throughputs is what kefu itself adds with a process.

cgroup v1 (`/sys/fs/cgroup/cpu`, `cpu.cfs_quota_us`) and v2 (`cpu.max`) are both understood;
where neither can be written (not root, a read-only mount), `create` says why and returns None.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CpuBudget"]

PERIOD_US = 100_000  # the kernel's default CFS period, as container runtimes set it


@dataclass
class CpuBudget:
    path: Path  # the cgroup's directory
    share: float  # of one core

    @classmethod
    def create(cls, name: str, share: float) -> tuple[CpuBudget | None, str]:
        """A new cgroup limited to `share` of one core; (None, why) where none can be made."""
        quota = round(share * PERIOD_US)
        tried = []
        for root, v2 in ((Path("/sys/fs/cgroup/cpu"), False), (Path("/sys/fs/cgroup"), True)):
            if v2 and "cpu" not in _read(root / "cgroup.controllers").split():
                continue
            path = root / f"kefu-bench-{os.getpid()}-{name}"
            try:
                if v2 and "cpu" not in _read(root / "cgroup.subtree_control").split():
                    (root / "cgroup.subtree_control").write_text("+cpu")
                path.mkdir(exist_ok=True)
                if v2:
                    (path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
                else:
                    (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                    (path / "cpu.cfs_quota_us").write_text(str(quota))
            except OSError as e:
                tried.append(f"{path}: {e.strerror or e}")
                _rmdir(path)
                continue
            return cls(path, share), ""
        return None, "; ".join(tried) or "no cgroup cpu controller is mounted"

    def wrap(self, argv: list[str]) -> list[str]:
        """`argv`, started inside the cgroup before it runs a line of its own (same pid: exec)."""
        procs = self.path / "cgroup.procs"
        return ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh", *argv]

    def throttled(self) -> tuple[int, int]:
        """(periods with work, periods in which the quota ran out) so far."""
        stat = dict(line.split() for line in _read(self.path / "cpu.stat").splitlines() if " " in line)
        return int(stat.get("nr_periods", 0)), int(stat.get("nr_throttled", 0))

    def remove(self) -> None:
        """Once its processes have ended (a cgroup with members cannot be removed)."""
        _rmdir(self.path)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _rmdir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass
