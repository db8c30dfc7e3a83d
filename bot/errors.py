"""kefu's exception tree: every error kefu raises on purpose is a KefuError."""

from __future__ import annotations

__all__ = [
    "KefuError",
    "ConfigError",
    "BadRequest",
    "SignatureError",
    "PlatformError",
    "TransientError",
    "RateLimited",
    "Unreachable",
    "Uncertain",
    "BusUnavailable",
    "LeaseLost",
    "StorageUnavailable",
    "RegistryError",
    "is_outage",
    "outage_of",
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
        # errcode 0: kefu's own refusal before any call (a picture a platform cannot take, say)
        super().__init__(f"{platform} errcode {errcode}: {errmsg}" if errcode else f"{platform}: {errmsg}")


class TransientError(KefuError):
    """A failure worth retrying: network error, timeout, 5xx, 'system busy'."""


class RateLimited(TransientError):
    """A platform's rate limit (its errcode says so): wait longer, then try again; never drop."""


class Unreachable(PlatformError):
    """The platform takes no more messages for this customer for now (48 h window closed, quota
    used): the conversation is marked and the agent told; retrying will not help until they write."""

    def __str__(self) -> str:
        return f"{self.errmsg} ({self.platform} errcode {self.errcode})" if self.errcode else self.errmsg


class Uncertain(KefuError):
    """The platform may or may not have carried a send out (its answer timed out or was lost after
    the request went out). Sent again only where the platform drops duplicates; elsewhere it is a
    dead letter marked uncertain, so a customer never gets the same message twice."""


class BusUnavailable(KefuError):
    """The bus could not take a message; the webhook must answer an error so the platform retries."""


class LeaseLost(KefuError):
    """This process no longer serves the bus partition the work came from: it stops, and the
    process that took the partition over does the work (once)."""


class StorageUnavailable(KefuError):
    """The database cannot be opened at start-up; the message names it and the fix, in one line."""


class RegistryError(KefuError):
    """A platform, the rules or a command is not registered as kefu expects (see bot.registry)."""


def is_outage(e: BaseException) -> bool:
    """Is this Redis or the database being unreachable or briefly in the way (a deadlock, a
    lock held by another process), so the same work is worth trying again, rather than a bad message?"""
    return outage_of(e) is not None


def outage_of(e: BaseException) -> str | None:
    """Which server an outage error is about: "redis", "storage", or None for any other error."""
    import sqlite3

    import redis.exceptions as rex

    chain: list[BaseException] = []
    while e is not None and len(chain) < 5:
        chain.append(e)
        e = e.__cause__  # type: ignore[assignment]
    if any(isinstance(x, rex.ConnectionError | rex.TimeoutError) for x in chain):
        return "redis"
    for x in chain:
        if isinstance(x, sqlite3.OperationalError) and any(w in str(x) for w in _SQLITE_TRANSIENT):
            return "storage"
        if type(x).__module__.startswith("asyncpg"):
            if "Connection" in type(x).__name__ or (type(x).__name__ == "InterfaceError" and "closed" in str(x)):
                return "storage"
            # a connection the server just ended, still reading its last error when taken:
            # "cannot switch to state 15; another operation (2) is in progress"
            if type(x).__name__ == "InternalClientError" and "cannot switch to state" in str(x):
                return "storage"
        state = str(getattr(x, "sqlstate", "") or "")
        # serialization failure, deadlock; connection exceptions; the server shutting down or starting
        if state in ("40001", "40P01", "53300", "57P01", "57P02", "57P03") or state.startswith("08"):
            return "storage"
    for x in chain:
        if isinstance(x, BusUnavailable):
            return "redis" if str(x).startswith("redis") else "storage"
        if isinstance(x, ConnectionError | TimeoutError):  # a driver's socket: the database's (Redis's are above)
            return "storage"
    return None


_SQLITE_TRANSIENT = ("locked", "busy", "disk I/O", "unable to open")
