"""kefu's listening socket (bot.listen): connections waiting in the kernel's queue are accepted
together, not one per turn of a busy event loop (uvloop's libuv accepts one per turn)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from adapters.sandbox import Sandbox
from bot.app import Runtime


async def test_connections_opened_at_once_are_all_accepted_within_a_few_turns(local_sandbox: Sandbox):
    sb = local_sandbox
    server = sb.kefu._runner.server
    before = len(server.connections)
    # the kernel completes these connections while kefu's loop is held here, as by a busy turn
    socks = [socket.create_connection(("127.0.0.1", sb.kefu.port)) for _ in range(30)]
    try:
        for _ in range(5):  # accepted, handed to aiohttp, its protocol made: a few turns, not 30
            await asyncio.sleep(0)
        assert len(server.connections) - before == 30
    finally:
        for s in socks:
            s.close()
    # and kefu still answers, on a new connection as on the old ones
    assert (await sb.write("o_after", "你好,在吗"))[0] == 200


async def test_a_port_already_taken_is_named_at_start_up(local_sandbox: Sandbox):
    sb = local_sandbox
    cfg = sb.config.model_copy(update={"server": sb.config.server.model_copy(update={"port": sb.kefu.port})})
    rt = Runtime(cfg)
    try:
        with pytest.raises(OSError, match=rf"server.host, server.port: cannot listen on 127.0.0.1:{sb.kefu.port}"):
            await rt.start()
    finally:
        await rt.stop()
