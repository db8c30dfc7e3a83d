"""Prometheus metrics of one kefu process, served at /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["Metrics", "CONTENT_TYPE_LATEST", "watch_loop_lag"]


async def watch_loop_lag(observe: Callable[[float], None], every: float) -> None:
    """Until cancelled: how late the running loop fires a timer of `every` seconds, each time.
    Work that holds the loop (a blocking call, a long collection) delays everything on it by as much."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(every)
        observe(max(0.0, loop.time() - before - every))


class Metrics:
    """One registry per runtime (tests run several runtimes in one process)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.messages_in = Counter(
            "kefu_messages_in", "Messages taken from platforms", ["platform", "account"], registry=r
        )
        self.duplicates = Counter("kefu_duplicates_dropped", "Platform retries dropped", ["account"], registry=r)
        self.messages_out = Counter(
            "kefu_messages_out",
            "Deliveries to platforms, by result",
            ["platform", "account", "purpose", "result"],
            registry=r,
        )
        self.delivery_failures = Counter(
            "kefu_delivery_failures", "Deliveries that failed for good", ["platform", "account"], registry=r
        )
        self.first_response = Histogram(
            "kefu_first_response_seconds",
            "From a customer's first message to an agent's first answer",
            buckets=(10, 30, 60, 120, 300, 600, 1800, 3600),
            registry=r,
        )
        self.sla_breaches = Counter("kefu_sla_breaches", "Customers not answered within sla.first_response", registry=r)
        self.queue_length = Gauge("kefu_queue_length", "Customers waiting for an agent", registry=r)
        self.bus_pending = Gauge("kefu_bus_pending", "Messages on the bus not yet handled", ["topic"], registry=r)
        self.agents_online = Gauge("kefu_agents_online", "Agents online", registry=r)
        self.loop_lag = Histogram(
            "kefu_loop_lag_seconds",
            "How late the event loop woke a timer: a callback arriving then waited as long for its answer",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
            registry=r,
        )


    def render(self) -> bytes:
        return generate_latest(self.registry)
