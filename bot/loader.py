"""The admin's YAML file read into a Config: `${VAR}` substitution, and every mistake named by its key path."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.config import ACCOUNT_SCHEMAS, CONFIG_DIR, Account, Config
from bot.config_types import problems_of
from bot.errors import ConfigError
from bot.registry import account_schemas

__all__ = ["load_config", "parse_config", "VARIABLE"]

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")  # ${VAR} and ${VAR:-default}


def _substitute(node: Any, path: str, env: dict[str, str], problems: list[tuple[str, str]]) -> Any:
    if isinstance(node, dict):
        return {k: _substitute(v, f"{path}.{k}" if path else str(k), env, problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, f"{path}[{i}]", env, problems) for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def one(m: re.Match[str]) -> str:
        var, default = m.group(1), m.group(2)
        if var in env:
            return env[var]
        if default is not None:
            return default
        problems.append((path, f"environment variable {var} is not set (write ${{{var}:-default}} for a default)"))
        return ""

    return VARIABLE.sub(one, node)


def parse_config(
    raw: Any,
    env: dict[str, str] | None = None,
    schemas: Mapping[str, type[Account]] | None = None,
    base: Path | None = None,
) -> Config:
    """Validate an already-loaded YAML tree; raise ConfigError naming every bad key.

    `schemas`: platform name -> account schema; by default the platforms installed (bot.registry).
    `base`: the folder relative file names (faq.file) are read from; by default the working one.
    """
    if not isinstance(raw, dict):
        raise ConfigError([("", "the file must be a YAML mapping (server:, storage:, accounts:, ...)")])
    problems: list[tuple[str, str]] = []
    data = _substitute(raw, "", dict(os.environ) if env is None else env, problems)
    if problems:
        raise ConfigError(problems)
    if schemas is None:
        schemas = account_schemas()
    try:
        return Config.model_validate(data, context={ACCOUNT_SCHEMAS: schemas, CONFIG_DIR: base})
    except ValidationError as e:
        raise ConfigError(problems_of(e)) from None


def load_config(path: str | Path, env: dict[str, str] | None = None) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([("", f"cannot read {p}: {e.strerror}")]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError([("", f"{p} is not valid YAML: {where}{getattr(e, 'problem', e)}")]) from None
    return parse_config(raw, env, base=p.parent)
