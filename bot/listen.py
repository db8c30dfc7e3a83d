"""kefu's listening socket: every connection waiting is accepted at once.

uvloop's libuv accepts one connection per turn of the event loop (libuv#3696). A turn lasts
as long as what is ready to run in it, so on a busy loop new connections waited in the
kernel's queue: 128 connections opened at once on a loaded kefu were accepted over 100 to
250 ms, and each one's callback waited as long. Platforms and the proxies in front of kefu
(nginx opens a connection per request by default) open connections all the time, so this
listener accepts what is waiting, as asyncio's own loop does, and hands each connection to
the aiohttp server.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable

from loguru import logger

__all__ = ["Listener"]

AT_ONCE = 100  # connections accepted per readiness, at most (asyncio's default backlog)
BACKLOG = 1024
_OUT_OF = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)  # wait, then accept again
RETRY_AFTER = 1.0


class Listener:
    def __init__(self, protocol_factory: Callable[[], asyncio.Protocol], host: str, port: int, reuse_port: bool):
        self._factory = protocol_factory
        self._sock = _bind(host, port, reuse_port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[object]] = set()

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def start(self) -> None:
        if self._sock.fileno() == -1:  # closed meanwhile (a retry after EMFILE that came too late)
            return
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._accept)

    def _accept(self) -> None:
        assert self._loop is not None
        for _ in range(AT_ONCE):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as e:
                if e.errno not in _OUT_OF:  # one connection's trouble: the next ones are still taken
                    logger.warning("server: a connection could not be accepted ({})", e)
                    return
                logger.error("server: cannot accept connections ({}); trying again in {:.0f}s", e, RETRY_AFTER)
                self._loop.remove_reader(self._sock.fileno())
                self._loop.call_later(RETRY_AFTER, self.start)
                return
            conn.setblocking(False)
            task = self._loop.create_task(self._serve(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, conn: socket.socket) -> None:
        assert self._loop is not None
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except OSError as e:  # the peer went away in between
            logger.info("server: connection dropped as it was accepted ({})", e)
            conn.close()

    def close(self) -> None:
        """Accept no more connections (those accepted are the aiohttp server's to finish)."""
        if self._sock.fileno() == -1:
            return
        if self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()


def _bind(host: str, port: int, reuse_port: bool) -> socket.socket:
    try:
        family, *_, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.create_server(address, family=family, backlog=BACKLOG, reuse_port=reuse_port)
    except OSError as e:  # the port taken, an address not of this machine
        raise OSError(e.errno, f"server.host, server.port: cannot listen on {host}:{port}: {e.strerror or e}") from e
    sock.setblocking(False)
    return sock
