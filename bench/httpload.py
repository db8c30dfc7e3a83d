"""The load generator: a small HTTP/1.1 keep-alive client on asyncio, and two ways to drive it.

Requests are prebuilt bytes (a socket write and a header scan each), to 127.0.0.1 only.
`closed_loop`: each connection sends its next request once the last is answered. `open_loop`:
requests at a fixed rate whatever the server does, latency from the scheduled time (no
coordinated omission). Before each run the heap is collected and frozen: a full collection over
the prebuilt requests paused the generator for 25-55 ms, which showed up as the server's latency.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "Request",
    "LoadResult",
    "closed_loop",
    "open_loop",
    "percentile",
    "request_bytes",
    "one_request",
]

HOST = "127.0.0.1"


def request_bytes(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """One complete HTTP/1.1 POST to 127.0.0.1:port."""
    head = [f"POST {path} HTTP/1.1", f"Host: {HOST}:{port}", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class _Conn(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed by the server"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is None or self.waiter.done():
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        status, length = _parse_head(bytes(self.buf[:end]))
        total = end + 4 + length
        if len(self.buf) < total:
            return
        body = bytes(self.buf[end + 4 : total])
        del self.buf[:total]
        self.waiter.set_result((status, body))

    def _expire(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(TimeoutError("no answer in time"))
            if self.transport is not None:
                self.transport.close()

    async def request(self, data: bytes, timeout: float) -> tuple[int, bytes]:
        if self.lost or self.transport is None:
            raise ConnectionError("connection is closed")
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        timer = loop.call_later(timeout, self._expire)
        try:
            self.transport.write(data)
            return await self.waiter
        finally:
            timer.cancel()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _parse_head(head: bytes) -> tuple[int, int]:
    """(status, content length) of a response head; chunked bodies are not expected here."""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            raise ValueError("chunked responses are not supported by the bench client")
    return status, length


async def _connect(port: int, timeout: float = 5.0) -> _Conn:
    loop = asyncio.get_running_loop()
    _, conn = await asyncio.wait_for(loop.create_connection(_Conn, HOST, port), timeout)
    return conn


async def one_request(port: int, data: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """A single request on a fresh connection (set-up calls, health checks)."""
    conn = await _connect(port)
    try:
        return await conn.request(data, timeout)
    finally:
        conn.close()


@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0
    errors: int = 0
    first_send: float = 0.0  # time.time() of the first request
    last_ack: float = 0.0  # time.time() of the last good answer
    latencies: list[float] = field(default_factory=list)  # seconds, good answers only
    sent_at: dict[int, float] = field(default_factory=dict)  # request index -> time.time() sent (or scheduled)
    timed_out: bool = False  # the run hit its time limit before every request was sent


def settle_heap() -> None:
    """Collect, then freeze what survives: a collection during the run scans only what it made."""
    gc.collect()
    gc.freeze()


async def _send_one(conn: _Conn, data: bytes, start: float, res: LoadResult, timeout: float) -> bool:
    """Send one request on `conn`; record it; False if the connection should be replaced."""
    res.sent += 1
    try:
        status, _ = await conn.request(data, timeout)
    except (ConnectionError, TimeoutError, OSError):
        res.errors += 1
        return False
    now_wall, now = time.time(), time.perf_counter()
    if not 200 <= status < 300:
        res.errors += 1
        return True
    res.ok += 1
    res.latencies.append(now - start)
    res.last_ack = max(res.last_ack, now_wall)
    return True


Request = tuple[int, bytes]  # (port on 127.0.0.1, the complete request)


class _Pool:
    """One worker's keep-alive connections, one per port it has talked to."""

    def __init__(self) -> None:
        self.conns: dict[int, _Conn] = {}

    async def get(self, port: int) -> _Conn:
        conn = self.conns.get(port)
        if conn is None or conn.lost:
            conn = self.conns[port] = await _connect(port)
        return conn

    def drop(self, port: int) -> None:
        conn = self.conns.pop(port, None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for port in list(self.conns):
            self.drop(port)


async def _send(pool: _Pool, req: Request, start: float, res: LoadResult, timeout: float) -> None:
    port, data = req
    try:
        conn = await pool.get(port)
    except (OSError, TimeoutError):
        res.sent += 1
        res.errors += 1
        return
    if not await _send_one(conn, data, start, res, timeout):
        pool.drop(port)


async def closed_loop(
    requests: Sequence[Request],
    concurrency: int,
    *,
    time_limit: float,
    timeout: float = 10.0,
    result: LoadResult | None = None,
) -> LoadResult:
    """Send every request from `concurrency` workers, each waiting for its answer before the next."""
    res = result or LoadResult()
    indexes = iter(range(len(requests)))

    async def worker(end: float) -> None:
        pool = _Pool()
        try:
            for i in indexes:  # shared: each index is taken by exactly one worker
                if time.perf_counter() > end:
                    res.timed_out = True
                    return
                res.sent_at[i] = time.time()
                await _send(pool, requests[i], time.perf_counter(), res, timeout)
        finally:
            pool.close()

    settle_heap()
    end = time.perf_counter() + time_limit
    res.first_send = time.time()
    await asyncio.gather(*(worker(end) for _ in range(concurrency)))
    return res


async def open_loop(
    requests: Sequence[Request],
    rate: float,
    *,
    duration: float,
    connections: int = 128,
    timeout: float = 10.0,
    result: LoadResult | None = None,
) -> LoadResult:
    """Send request i at start + i/rate for `duration` seconds; latency from the scheduled time."""
    res = result or LoadResult()
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    n = min(len(requests), max(1, int(rate * duration)))
    res.timed_out = n < int(rate * duration)  # not enough prepared requests for the whole duration

    async def worker(t0: float, wall0: float) -> None:
        pool = _Pool()
        try:
            while (item := await queue.get()) is not None:
                i, scheduled = item
                res.sent_at[i] = wall0 + (scheduled - t0)
                await _send(pool, requests[i], scheduled, res, timeout)
        finally:
            pool.close()

    settle_heap()
    t0, wall0 = time.perf_counter(), time.time()
    res.first_send = wall0
    workers = [asyncio.create_task(worker(t0, wall0)) for _ in range(connections)]
    i = 0
    while i < n:
        due = min(n, int((time.perf_counter() - t0) * rate) + 1)
        while i < due:
            queue.put_nowait((i, t0 + i / rate))
            i += 1
        await asyncio.sleep(min(0.002, max(0.0, t0 + i / rate - time.perf_counter())))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.wait_for(asyncio.gather(*workers), timeout + 60)
    return res


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
