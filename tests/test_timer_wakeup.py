"""A running kefu acts on a stored timer when it falls due, not at its next sweep: the
first-response limit holds to the second while an idle desk sleeps between checks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from adapters.wechat.emulator import CS_SEND
from bot.config import MessagesConfig
from tests.fleet import Fleet

pytestmark = pytest.mark.timeout(60)


class SlowSweep(Fleet):
    def config(self, port: int) -> dict[str, Any]:
        cfg = super().config(port)
        cfg.update(sla={"first_response": "3s", "escalate_after": 0}, timers={"tick": "1s", "sweep": "1h"})
        return cfg


async def test_please_wait_goes_out_when_the_limit_passes_not_at_the_sweep(tmp_path: Path):
    async with SlowSweep(storage=f"sqlite:///{tmp_path}/kefu.db", bus="memory://", workdir=tmp_path) as fleet:
        await fleet.start("kefu")
        await fleet.agents_online(via="kefu")
        pusher = fleet.customer("kefu")
        sent = time.monotonic()
        await fleet.deliver(pusher.signed(pusher.text_xml("o_zhangsan", "c01-m001 在吗", 8_100_001)), ["kefu"])
        please_wait = MessagesConfig().please_wait

        def waits() -> list[Any]:
            return [c for c in fleet.sb.wechat.sent(CS_SEND) if please_wait in str(c.body)]

        while not waits() and time.monotonic() - sent < 20:
            await fleet.sb.wechat.wait_for(CS_SEND, len(fleet.sb.wechat.sent(CS_SEND)) + 1, timeout=20)
        took = time.monotonic() - sent
        assert waits(), "no please-wait within 20 s (the sweep is an hour)"
        assert 3 <= took < 6, f"please-wait after {took:.1f} s; the limit is 3 s"
