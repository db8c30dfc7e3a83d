"""What other packages plug into the core, found through entry points (pyproject.toml): the
platforms (kefu.platforms), the desk's rules (kefu.rules) and more `kefu` commands (kefu.commands).

The core names none of them, not even by string: an installed package declaring an entry point is
what adds it. Entry points rather than a list in the core, because the list then lives with the
packages (pip install adds a platform), and rather than scanning folders, because nothing is imported
that did not ask to be.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from bot.adapter import Platform
from bot.chain import Rules
from bot.config import Account, Config
from bot.errors import RegistryError

__all__ = [
    "Command",
    "platforms",
    "account_schemas",
    "rules_builder",
    "commands",
    "PLATFORMS",
    "RULES",
    "COMMANDS",
    "WEB",
    "web_parts",
]

PLATFORMS = "kefu.platforms"  # name -> a bot.adapter.Platform
RULES = "kefu.rules"  # one entry: (Config) -> bot.chain.Rules
COMMANDS = "kefu.commands"  # name -> a Command
WEB = "kefu.web"  # name -> (web.Application, the runtime) -> None: adds its routes (the console)


@dataclass(frozen=True)
class Command:
    """A `kefu` subcommand another package brings (the record sheet, the demo)."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Awaitable[int]]  # run on kefu's event loop


def _entries(group: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for ep in entry_points(group=group):
        if ep.name in seen:
            if seen[ep.name] != ep.value:  # two packages claim one name: say so rather than pick one
                raise RegistryError(f"{group}: '{ep.name}' is both {seen[ep.name]} and {ep.value}")
            continue  # the same distribution found twice on the path
        seen[ep.name] = ep.value
        found[ep.name] = ep.load()
    return found


def _missing(group: str) -> RegistryError:
    return RegistryError(f"nothing is registered under the entry point group {group}: install kefu (pip install -e .)")


@cache
def platforms() -> dict[str, Platform]:
    """Every installed platform by name."""
    out: dict[str, Platform] = {}
    for name, p in _entries(PLATFORMS).items():
        if not isinstance(p, Platform) or p.name != name:
            raise RegistryError(f"{PLATFORMS}: '{name}' is not a bot.adapter.Platform named '{name}' ({p!r})")
        out[name] = p
    return out


def account_schemas() -> dict[str, type[Account]]:
    """Platform name -> its account schema, for the config loader."""
    return {name: p.schema for name, p in platforms().items()}


@cache
def rules_builder() -> Callable[[Config], Rules]:
    """The function that assembles the desk's rules from the config."""
    found = _entries(RULES)
    if len(found) != 1:
        raise _missing(RULES) if not found else RegistryError(f"{RULES}: one entry expected, found {sorted(found)}")
    return next(iter(found.values()))  # type: ignore[no-any-return]


@cache
def commands() -> list[Command]:
    out: list[Command] = []
    for name, c in _entries(COMMANDS).items():
        if not isinstance(c, Command) or c.name != name:
            raise RegistryError(f"{COMMANDS}: '{name}' is not a bot.registry.Command named '{name}' ({c!r})")
        out.append(c)
    return out


@cache
def web_parts() -> dict[str, Callable[[Any, Any], None]]:
    """What adds pages to kefu's server besides the adapters' webhooks, by name."""
    return _entries(WEB)
