"""kefu's exception tree: every error kefu raises on purpose is a KefuError."""

from __future__ import annotations

__all__ = [
    "KefuError",
    "ConfigError",
    "BadRequest",
    "SignatureError",
    "PlatformError",
    "TransientError",
    "BusUnavailable",
]


class KefuError(Exception):
    """Base of every error kefu raises on purpose."""


class ConfigError(KefuError):
    """The admin's file is wrong; ``problems`` are ``(key path, problem)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{k}: {p}" if k else p for k, p in problems))


class BadRequest(KefuError):
    """An inbound request that cannot be taken (malformed, wrong mode, too large): a 4xx."""

    status = 400


class SignatureError(BadRequest):
    """An inbound request whose signature does not match: a 403."""

    status = 403


class PlatformError(KefuError):
    """A platform API answered with an error code."""

    def __init__(self, errcode: int, errmsg: str = "", *, platform: str = ""):
        self.errcode = errcode
        self.errmsg = errmsg
        self.platform = platform
        super().__init__(f"{platform} errcode {errcode}: {errmsg}".strip())


class TransientError(KefuError):
    """A failure worth retrying: network error, timeout, 5xx, 'system busy'."""


class BusUnavailable(KefuError):
    """The bus could not take a message; the webhook must answer an error so the platform retries."""
