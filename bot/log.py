"""Logging: loguru for kefu, stdlib logging (aiohttp, asyncpg) bridged in, secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from loguru import logger

__all__ = ["setup_logging", "secrets_of", "redact"]

# credentials that travel in URLs: tokens fetched at run time, robot keys, app secrets
_URL_SECRETS = re.compile(r"((?:access_token|corpsecret|secret|key)=)[^&\s'\"]+")


class _Bridge(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def secrets_of(config: Any) -> list[str]:
    """Every configured value that must never reach a log line."""
    out: list[str] = []
    for acc in config.accounts:  # each platform's schema names its secret keys
        out += [v for v in acc.secrets() if len(v) >= 4]
    for grp in config.groups.values():
        out += [v for v in (grp.webhook_key, grp.secret, grp.webhook.partition("access_token=")[2]) if v]
    if config.console is not None:
        out += [v for u in config.console.users for v in (u.password, u.password_hash) if v]
    return sorted(set(out), key=len, reverse=True)


def redact(text: str, hidden: list[str]) -> str:
    for s in hidden:
        if s in text:
            text = text.replace(s, "***")
    return _URL_SECRETS.sub(r"\1***", text)


def setup_logging(level: str = "INFO", secrets: list[str] | None = None, sink: Any = None) -> None:
    hidden = [s for s in (secrets or []) if s]

    def patch(record: dict[str, Any]) -> None:
        record["message"] = redact(record["message"], hidden)

    logger.remove()
    logger.configure(patcher=patch)
    logger.add(
        sink or sys.stderr,
        level=level,
        format="{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <7} | {name}:{line} | {message}",
        backtrace=False,
        diagnose=False,  # variable values in tracebacks could carry secrets
    )
    logging.basicConfig(handlers=[_Bridge()], level=logging.WARNING, force=True)
