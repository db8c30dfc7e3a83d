"""The runtime: one aiohttp server for every adapter, the bus, storage, worker and sender."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import aiohttp
from aiohttp import web
from loguru import logger

from bot.adapter import Adapter, Host
from bot.bus import DUPLICATE, REFUSED, Bus, Guard, MemoryBus, RedisBus
from bot.callbacks import Callbacks
from bot.chain import Desk
from bot.clock import Clock
from bot.config import Config
from bot.directory import Directory
from bot.errors import BadRequest, BusUnavailable, SignatureError, is_outage
from bot.metrics import CONTENT_TYPE_LATEST, Metrics, watch_loop_lag
from bot.model import Delivery, Message
from bot.outage import Outages, address_of
from bot.registry import platforms, rules_builder, web_parts
from bot.sender import Sender
from bot.state import MemoryState, RedisState, State
from bot.store import Store
from bot.store.transcript import delivery_of
from bot.ticker import Ticker
from bot.worker import INBOUND, OUTBOUND, Worker

__all__ = ["Runtime", "DEDUPE_TTL"]

OUTAGES = web.AppKey("outages", Outages)

DEDUPE_TTL = 24 * 3600.0  # platforms retry within seconds; a day is plenty


def _redis_url(url: str) -> tuple[str, str]:
    """redis://host:port/db?prefix=kefu: -> (url without prefix, prefix)."""
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    prefix = q.pop("prefix", ["kefu:"])[0]
    query = "&".join(f"{k}={v[0]}" for k, v in q.items())
    return urlunsplit(parts._replace(query=query)), prefix


class Runtime:
    """Everything one kefu process runs, built from the config."""

    def __init__(self, config: Config, clock: Clock | None = None):
        self.config = config
        self.clock = clock or Clock()
        self.directory = Directory(config)
        self.store = Store(config.storage)
        self.redis: Any = None
        self.bus: Bus
        self.state: State
        if config.bus == "memory://":  # the embedded default: what the bus takes is kept in storage
            self.bus, self.state = MemoryBus(self.store), MemoryState()
        else:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
            from redis.exceptions import ConnectionError as RedisConnectionError

            url, prefix = _redis_url(config.bus)
            # a blocking pool waits for a free connection under load instead of failing the callback;
            # a pooled connection a Redis restart left dead fails on its next use: reconnect and send
            # it once more (redis-py's retry), rather than fail that command as an outage
            pool = aioredis.BlockingConnectionPool.from_url(
                url,
                max_connections=200,
                timeout=5,
                socket_timeout=5,
                socket_connect_timeout=3,
                retry=Retry(NoBackoff(), 1),
                retry_on_error=[RedisConnectionError],
            )
            self.redis = aioredis.Redis(connection_pool=pool)
            self.bus = RedisBus(self.redis, prefix=prefix)
            self.state = RedisState(self.redis, prefix=prefix)
        # all an adapter sees of the runtime; http is filled in at start
        self.host = Host(self.ingest, self.state, self.store, self.clock, config.groups)
        registered = platforms()
        self.adapters: dict[str, Adapter] = {
            acc.name: registered[acc.platform].adapter(acc, self.host) for acc in config.accounts
        }
        self.directory.abilities = {name: a.abilities for name, a in self.adapters.items()}
        self.rules = rules_builder()(config)
        self._ticker: asyncio.Task[None] | None = None
        self.ticker = Ticker(self.clock, config.timers.tick, config.timers.sweep)
        self.store.timer_added = self.ticker.timer_added
        self._lag_watch: asyncio.Task[None] | None = None
        self.http: aiohttp.ClientSession | None = None
        self.metrics = Metrics()
        where = {"storage": address_of(config.storage)}
        if self.redis is not None:
            where["redis"] = address_of(config.bus)
        self.outages = Outages(where)
        self.bus.outages = self.outages
        self.worker = Worker(self)
        self.sender = Sender(self)
        self._runner: web.AppRunner | None = None
        self.port: int = 0
        self.reuse_port = False  # one of `kefu run --workers N`: they share the port
        self.callbacks = Callbacks(self.state, self.clock)  # when each platform last called (the console shows it)

    # -- lifecycle -----------------------------------------------------------------

    async def start(self, serve: bool = True) -> None:
        await self.store.create_tables()
        timeout = self.config.server.api_timeout
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout, connect=min(3, timeout)))
        self.host.http = self.http
        for adapter in self.adapters.values():
            await adapter.start()
        self.bus.subscribe(INBOUND, self.worker.handle)
        # one recipient's deliveries in order; a slow platform never holds up another recipient's
        self.bus.subscribe(OUTBOUND, self.sender.handle, lanes=True)
        await self.bus.start()
        self._ticker = asyncio.create_task(self._tick_loop(), name="timers")
        # kefu_loop_lag_seconds: a webhook arriving while the loop is held waits as long
        self._lag_watch = asyncio.create_task(watch_loop_lag(self.metrics.loop_lag.observe, 0.25), name="loop-lag")
        if serve:
            self._runner = web.AppRunner(self.web_app(), access_log=None, shutdown_timeout=5)
            await self._runner.setup()
            server = self.config.server
            sock = _bind(server.host, server.port, self.reuse_port)
            await web.SockSite(self._runner, sock, backlog=1024).start()
            self.port = int(sock.getsockname()[1])
            logger.info("kefu listening on http://{}:{}", self.config.server.host, self.port)

    async def stop(self) -> None:
        for adapter in self.adapters.values():
            await adapter.before_shutdown()
        if self._runner:
            await self._runner.cleanup()
        for task in (self._ticker, self._lag_watch):
            if task:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.bus.close()
        for adapter in self.adapters.values():
            await adapter.stop()
        if self.http:
            await self.http.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.store.close()

    # -- the server ----------------------------------------------------------------

    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.server.max_body_bytes, middlewares=[_errors])
        app[OUTAGES] = self.outages
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        for name, adapter in self.adapters.items():
            for route in adapter.routes():
                app.router.add_route(
                    route.method, adapter.base_path + route.suffix, self.callbacks.watched(name, route.handler)
                )
        for mount in web_parts().values():  # the console, when installed (it adds nothing unless configured)
            mount(app, self)
        return app

    async def _healthz(self, request: web.Request) -> web.Response:
        """Liveness: the process serves (what it depends on is reported, not judged)."""
        checks = await self._checks()
        ok = all(v == "ok" for v in checks.values())
        return web.json_response({"status": "ok" if ok else "degraded", **checks})

    async def _readyz(self, request: web.Request) -> web.Response:
        """Readiness: storage and the bus/state are reachable, so callbacks can be taken."""
        checks = await self._checks()
        ok = all(v == "ok" for v in checks.values())
        return web.json_response({"status": "ready" if ok else "not ready", **checks}, status=200 if ok else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        m = self.metrics
        try:
            m.queue_length.set(len(await self.store.waiting()))
            for topic in (INBOUND, OUTBOUND):
                m.bus_pending.labels(topic).set(await self.bus.pending(topic))
            online = await self.store.online()
            m.agents_online.set(sum(a.name in online for a in self.config.agents))  # configured ones only
        except Exception as e:  # the counters are still worth serving
            logger.warning("metrics: gauges not refreshed ({})", e)
        return web.Response(body=m.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _checks(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        for name, probe in (("storage", self.store.ping), ("state", self.state.ping)):
            try:
                await asyncio.wait_for(probe(), 2)
                checks[name] = "ok"
            except Exception as e:
                checks[name] = f"down: {type(e).__name__}"
        return checks

    # -- what adapters and handlers call ------------------------------------------

    async def ingest(self, messages: list[Message], guard: Guard | None = None) -> int:
        """Put inbound messages durably on the bus; platform retries are dropped here.

        `guard` (a signature that may come again only with the same body) is checked in the
        same step as the first message is stored: SignatureError if it was used with another.
        Raises BusUnavailable when a message could not be stored: the webhook must then
        answer an error so the platform retries.
        """
        taken = 0
        for k, msg in enumerate(messages):
            msg.received_at = self.clock.now()
            mark = f"seen:{msg.account}:{msg.external_id}"
            outcome = await self.bus.publish_once(
                INBOUND, f"{msg.account}:{msg.sender}", msg.to_dict(), mark, DEDUPE_TTL, guard if k == 0 else None
            )
            if outcome == REFUSED:
                raise SignatureError("a signature already used with another body (replayed)")
            if outcome == DUPLICATE:
                logger.info("{}: platform retry of {} dropped", msg.account, msg.external_id)
                self.metrics.duplicates.labels(msg.account).inc()
                continue
            self.metrics.messages_in.labels(self.config.account(msg.account).platform, msg.account).inc()
            taken += 1
        return taken

    async def enqueue_delivery(self, d: Delivery) -> None:
        """Log the delivery as pending, then hand it to the sender through the bus."""
        if await self.record_delivery(d):
            await self.publish_delivery(d)

    async def record_delivery(self, d: Delivery) -> bool:
        """Log the delivery as pending; whether it is to be published (new, or a resumed handling's)."""
        agent = self.directory.agent_at(d.account, d.to)
        status = await self.store.record_delivery(d, agent.name if agent else "", self.clock.now())
        return status in ("new", "pending")  # the sender never sends twice what it finished

    async def publish_delivery(self, d: Delivery) -> None:
        await self.bus.publish(OUTBOUND, f"{d.account}:{d.to}", d.to_dict())

    async def display_name(self, account: str, user_id: str) -> str:
        adapter = self.adapters.get(account)
        if adapter is None:
            return ""
        try:
            return await asyncio.wait_for(adapter.display_name(user_id), 3)
        except Exception as e:  # a name is nice to have, never worth failing a message
            logger.info("{}: no name for {} ({})", account, user_id, e)
            return ""

    async def bridge_media(self, source: str, media_id: str, target: str, kind: str = "image") -> str:
        """Carry a media file (a picture, or a voice) from one account's platform to another's; the
        target's media id (the sender has checked both declare the abilities: Directory.carries_*)."""
        data, filename = await self.adapters[source].download_media(media_id)
        if kind == "voice":
            return await self.adapters[target].upload_voice(data, filename)
        return await self.adapters[target].upload_image(data, filename)

    def desk_parts(self) -> dict[str, Any]:
        """What every rule is given (see bot.chain.Desk)."""
        return {
            "config": self.config,
            "store": self.store,
            "state": self.state,
            "directory": self.directory,
            "clock": self.clock,
            "display_name": self.display_name,
            "metrics": self.metrics,
        }

    async def retry_dead_letters(self) -> int:
        """Send again the failed deliveries `kefu deadletters --retry` marked."""
        rows = await self.store.take_retries()
        for row in rows:
            d = delivery_of(row)
            await self.bus.publish(OUTBOUND, f"{d.account}:{d.to}", d.to_dict())
        return len(rows)

    async def tick(self) -> None:
        """Run the timed rules once (due SLA timers, idle agents) and queue what they decide."""
        desk = Desk(**self.desk_parts())
        down = ""
        for rule in self.rules.on_tick:
            try:
                await rule(desk)
            except Exception as e:
                if not is_outage(e):
                    logger.exception("timed rule {} failed", getattr(rule, "__qualname__", rule))
                    continue
                down = self.outages.down(e)  # the next tick tries again
        for d in desk.out:
            await self.enqueue_delivery(d)
        if await self.retry_dead_letters():
            logger.info("dead letters marked for retry are queued again")
        if down:
            raise BusUnavailable(f"{down}: a timed rule could not run")

    async def _tick_loop(self) -> None:
        failed = ""
        while True:
            await self.ticker.wait()
            try:
                await self.tick()
                self.ticker.plan(await self.store.next_timer_due())
            except Exception as e:  # storage or Redis briefly down: try again next tick
                self.ticker.retry()
                if not is_outage(e):
                    logger.exception("timer tick failed")
                    continue
                failed = self.outages.down(e)
            else:
                if failed == "storage":  # a tick always reads storage; Redis's return the bus sees itself
                    self.outages.up(failed)
                failed = ""

    async def wait_idle(self, timeout: float = 10.0) -> None:
        await self.bus.drain(timeout)


def _bind(host: str, port: int, reuse_port: bool) -> socket.socket:
    """The listening socket, with a start-up error that names the config keys."""
    try:
        family, *_, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        return socket.create_server(address, family=family, backlog=1024, reuse_port=reuse_port)
    except OSError as e:  # the port taken, an address not of this machine
        raise OSError(e.errno, f"server.host, server.port: cannot listen on {host}:{port}: {e.strerror or e}") from e


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    started = time.monotonic()
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except BadRequest as e:
        logger.warning("{} {} refused ({}): {}", request.method, request.path, e.status, e)
        return web.Response(status=e.status, text=f"{type(e).__name__}: {e}\n")
    except BusUnavailable as e:
        outages = request.app.get(OUTAGES)
        if outages is None:
            logger.error(
                "{} {}: not stored, answering 503 so the platform retries: {}", request.method, request.path, e
            )
        else:  # one line for the outage, not one per callback
            outages.down(e)
            logger.debug("{} {}: not stored, answering 503 so the platform retries", request.method, request.path)
        return web.Response(status=503, text="temporarily unavailable\n")
    except Exception:
        logger.exception(
            "{} {} failed after {:.0f} ms", request.method, request.path, (time.monotonic() - started) * 1000
        )
        return web.Response(status=500, text="internal error\n")
