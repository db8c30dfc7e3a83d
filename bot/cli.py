"""The `kefu` command: run, check-config, health, deadletters, and what packages register (report, demo)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from bot.config import Config
from bot.errors import ConfigError, StorageUnavailable
from bot.loader import load_config
from bot.log import secrets_of, setup_logging
from bot.registry import Command, commands
from bot.startup import opening_storage

if TYPE_CHECKING:
    from bot.store import Store

__all__ = ["main", "load_or_exit", "open_store"]


def load_or_exit(path: str) -> Config:
    """The config, or exit 2 printing each problem by its key (no traceback)."""
    try:
        return load_config(path)
    except ConfigError as e:
        _say_problems(path, e)
        raise SystemExit(2) from None


def _say_problems(path: str, e: ConfigError) -> None:
    print(f"kefu: {path}: configuration error", file=sys.stderr)
    for key, problem in e.problems:
        print(f"  {key}: {problem}" if key else f"  {problem}", file=sys.stderr)


def _warn_placeholders(path: str) -> None:
    """One line per value still as the example has it: kefu runs, but not yet for real."""
    import yaml

    from bot.placeholders import find_placeholders

    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))  # it loaded once already, so it reads
    for p in find_placeholders(raw, os.environ):
        print(f"kefu: warning: {p.warning}", file=sys.stderr)


async def open_store(url: str) -> Store:
    """Storage with its tables created, or StorageUnavailable saying why it cannot be opened."""
    from bot.store import Store

    store = Store(url)
    try:
        with opening_storage(url):
            await store.create_tables()
    except BaseException:
        await store.close()
        raise
    return store


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = load_or_exit(args.file)
    _warn_placeholders(args.file)
    accounts = ", ".join(f"{a.name} ({a.platform}, {a.role}) at /{a.platform}/{a.name}" for a in cfg.accounts)
    print(f"{args.file}: OK")
    print(f"  accounts: {accounts}")
    print(f"  agents: {', '.join(a.name for a in cfg.agents) or 'none'}")
    print(f"  storage: {cfg.storage.split('@')[-1]}  bus: {cfg.bus.split('@')[-1]}")
    if cfg.console is not None:
        print(f"  console: /console/ for {', '.join(u.name for u in cfg.console.users)}")
    return 0


def _run_served(main: Coroutine[Any, Any, None]) -> None:
    """The server on uvloop where it installs (+24 % end to end on the embedded default, +13 % on
    Redis+PostgreSQL, bench/README.md), on asyncio's own loop elsewhere (Windows)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


async def _serve(cfg: Config, reuse_port: bool = False) -> None:
    from bot.app import Runtime

    rt = Runtime(cfg)
    rt.reuse_port = reuse_port
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with opening_storage(cfg.storage):
        await rt.start()
    # what start-up built lives as long as the process: kept out of the collector's full passes,
    # which otherwise walk it all and stall every webhook for tens of milliseconds
    gc.freeze()
    try:
        await stop.wait()
        logger.info("stopping: finishing what is in hand")
    finally:
        await rt.stop()


def cmd_run(args: argparse.Namespace) -> int:
    cfg = load_or_exit(args.config)
    if not args.reuse_port:  # a worker of --workers: its supervisor has warned already
        _warn_placeholders(args.config)
    setup_logging(cfg.log_level, secrets_of(cfg))
    if args.workers < 1:
        print("kefu: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1:
        if cfg.bus == "memory://" or cfg.storage.startswith("sqlite"):
            print(
                "kefu: --workers needs a shared bus and database: set bus: redis://... and "
                "storage: postgresql://... (the in-process bus and SQLite serve one process)",
                file=sys.stderr,
            )
            return 2
        from bot.workers import supervise

        async def tables() -> None:  # once, so a database that cannot be opened is said once, not per restart
            await (await open_store(cfg.storage)).close()

        asyncio.run(tables())
        return supervise(args.config, args.workers)
    try:
        _run_served(_serve(cfg, reuse_port=args.reuse_port))
    except ConfigError as e:  # found while setting up: a file the config names (faq.file) is wrong
        _say_problems(args.config, e)
        return 2
    except OSError as e:  # port taken, database unreachable, ...
        logger.error("kefu could not start: {}", e)
        return 1
    return 0


def cmd_deadletters(args: argparse.Namespace) -> int:
    """List the deliveries that failed for good; mark some or all to be sent again."""
    cfg = load_or_exit(args.config)

    async def run() -> int:
        import datetime as dt

        from bot.clock import Clock

        store = await open_store(cfg.storage)
        try:
            if args.retry or args.retry_all:
                n = await store.mark_for_retry(None if args.retry_all else args.retry, Clock().now())
                within = max(cfg.timers.sweep, cfg.timers.tick)
                print(f"{n} deliveries marked; the running kefu sends them again within {within:g}s")
                return 0
            rows = await store.dead_letters(args.limit)
            if not rows:
                print("no failed deliveries")
            for r in rows:
                when = dt.datetime.fromtimestamp(r["updated_at"]).strftime("%m-%d %H:%M:%S")
                print(f"{r['id']:>6} {when} {r['purpose']:<8} {r['account']}:{r['party']}  {r['text'][:40]!r}")
                print(f"       {r['error']}")
            return 0
        finally:
            await store.close()

    return asyncio.run(run())


def cmd_health(args: argparse.Namespace) -> int:
    """Exit 0 if the kefu this config sets up answers /healthz, else 1: the container's health check,
    asking on the port the file sets (server.port) rather than guessing it."""
    import urllib.request

    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        print(f"kefu health: {args.config}: {e}", file=sys.stderr)
        return 1
    host, port = cfg.server.host, cfg.server.port
    if not port:
        print("kefu health: server.port is 0 (any free port), so there is no port to ask", file=sys.stderr)
        return 1
    if host in ("", "0.0.0.0", "::", "localhost"):  # every interface (or the name): ask on the loopback
        host = "127.0.0.1"
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/healthz"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an http_proxy
    try:
        with direct.open(url, timeout=args.timeout) as r:
            print(f"{url}: {r.status} {r.read(200).decode(errors='replace')}")
            return 0
    except OSError as e:  # refused, timed out, or an HTTP error status
        print(f"kefu health: {url}: {getattr(e, 'reason', None) or e}", file=sys.stderr)
        return 1


def _plugged(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return asyncio.run(command.run(args))

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kefu", description="Online customer-service relay")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="serve the webhooks and relay messages")
    p.add_argument("--config", "-c", default="kefu.yaml", help="the YAML file (default kefu.yaml)")
    p.add_argument("--workers", type=int, default=1, help="run N processes on one port (needs Redis + PostgreSQL)")
    p.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # a worker of --workers
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("check-config", help="validate a config file and say what it sets up")
    p.add_argument("file")
    p.set_defaults(func=cmd_check_config)
    p = sub.add_parser("health", help="exit 0 if the kefu of this config answers /healthz, else 1")
    p.add_argument("--config", "-c", default="kefu.yaml", help="the YAML file (its server.port is asked)")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for the answer (default 2)")
    p.set_defaults(func=cmd_health)
    p = sub.add_parser("deadletters", help="deliveries that failed for good; --retry to send again")
    p.add_argument("--config", "-c", default="kefu.yaml")
    p.add_argument("--retry", type=int, nargs="+", metavar="ID", help="send these again")
    p.add_argument("--retry-all", action="store_true", help="send every failed delivery again")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_deadletters)
    argv = sys.argv[1:] if argv is None else argv
    word = next((a for a in argv if not a.startswith("-")), None)
    if word not in sub.choices:  # another package's (bot.registry), or --help: only then are they imported
        for command in commands():
            p = sub.add_parser(command.name, help=command.help)
            command.arguments(p)
            p.set_defaults(func=_plugged(command))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except StorageUnavailable as e:  # the admin's to fix: one line, no traceback
        print(f"kefu: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
