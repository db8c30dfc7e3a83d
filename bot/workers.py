"""`kefu run --workers N`: N kefu processes sharing one port (SO_REUSEPORT) on one Redis bus and
one database, each restarted if it dies; SIGTERM/SIGINT is passed on and waited for."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType

from loguru import logger

__all__ = ["supervise"]

GRACE = 20.0  # seconds the workers get to finish what is in hand after SIGTERM


def supervise(config_path: str, workers: int) -> int:
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    argv = [sys.executable, "-m", "bot.cli", "run", "--config", config_path, "--reuse-port"]
    procs: list[subprocess.Popen[bytes]] = []
    backoff = [1.0] * workers
    due = [0.0] * workers
    for _ in range(workers):
        procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL))
    logger.info("kefu: {} workers started (pids {})", workers, ", ".join(str(p.pid) for p in procs))
    while not stopping:
        time.sleep(0.2)
        for i, p in enumerate(procs):
            if p.poll() is None or stopping:
                continue
            if not due[i]:
                logger.error(
                    "kefu worker {} (pid {}) exited with {}; restarting in {:.0f}s", i, p.pid, p.returncode, backoff[i]
                )
                due[i] = time.monotonic() + backoff[i]
                backoff[i] = min(backoff[i] * 2, 30.0)
            elif time.monotonic() >= due[i]:
                procs[i] = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
                due[i] = 0.0
                logger.info("kefu worker {} restarted (pid {})", i, procs[i].pid)
    logger.info("kefu: stopping {} workers", workers)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    end = time.monotonic() + GRACE
    for p in procs:
        try:
            p.wait(max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.warning("kefu worker pid {} did not stop in time; killed", p.pid)
            p.kill()
            p.wait()
    return 0
