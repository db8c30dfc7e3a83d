"""What stops kefu from opening its storage at start-up, said in one line with the fix.

A driver's error while the database is opened (no such file, directory or database, a server that
does not answer) is the admin's to fix, so it becomes `StorageUnavailable` naming the database and
what to do, never a traceback; any other error stays what it is.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

from bot.errors import StorageUnavailable

__all__ = ["opening_storage", "storage_problem"]


@contextmanager
def opening_storage(url: str) -> Iterator[None]:
    """Wrap what first opens storage: a driver's failure becomes StorageUnavailable."""
    try:
        yield
    except Exception as e:
        problem = storage_problem(url, e)
        if problem is None:
            raise
        raise StorageUnavailable(problem) from e


def storage_problem(url: str, e: BaseException) -> str | None:
    """One line saying why storage at `url` could not be opened, or None if `e` is not about that."""
    if not _from_the_database_layer(e):
        return None  # another part of start-up (the bus, an adapter, the port): not ours to word
    if url.startswith("sqlite:///") and isinstance(e, sqlite3.Error):
        return _sqlite(url.removeprefix("sqlite:///"), e)
    if url.startswith(("postgresql://", "postgres://")) and (_is_asyncpg(e) or isinstance(e, OSError)):
        return _postgres(url, e)
    return None


def _from_the_database_layer(e: BaseException) -> bool:
    # the drivers are only reached through bot.store, so its frames mark a storage failure
    return any(f.f_globals.get("__name__", "").startswith("bot.store.") for f, _ in traceback.walk_tb(e.__traceback__))


def _is_asyncpg(e: BaseException) -> bool:
    return type(e).__module__.startswith("asyncpg")


def _sqlite(path: str, e: sqlite3.Error) -> str:
    where = os.path.abspath(path)
    folder = os.path.dirname(where)
    if not os.path.isdir(folder):
        why = "its directory does not exist (create it, or set storage: to a writable path)"
    elif os.path.isdir(where):
        why = "that is a directory (set storage: to a file in it, e.g. sqlite:///" + os.path.join(where, "kefu.db)")
    elif not os.access(folder, os.W_OK) or (os.path.exists(where) and not os.access(where, os.W_OK)):
        # SQLite writes its journal next to the file, so the directory must be writable too
        why = (
            f"the user kefu runs as (uid {os.geteuid()}) cannot write to {folder} "
            "(give it write access, or set storage: to a writable path)"
        )
    else:
        why = f"{e} (check the file and its directory)"
    return f"cannot open the SQLite database {where}: {why}"


def _postgres(url: str, e: BaseException) -> str:
    # only host, port, user and database are named: the URL's password never is
    parts = urlsplit(url)
    host = parts.hostname or parse_qs(parts.query).get("host", ["localhost"])[0]
    port = parts.port or 5432
    user = parts.username or ""
    database = parts.path.lstrip("/") or user or "postgres"
    where = f"{host}:{port}"
    name = type(e).__name__
    if name == "InvalidCatalogNameError":
        createdb = f"createdb -h {host}" + (f" -p {port}" if port != 5432 else "") + (f" -U {user}" if user else "")
        return f'PostgreSQL database "{database}" does not exist on {where} (create it: {createdb} {database})'
    if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
        return f"PostgreSQL on {where} refused the login: {e} (check the user and password in storage:)"
    if isinstance(e, ConnectionRefusedError) or (isinstance(e, OSError) and "refused" in str(e).lower()):
        fix = "start it, or correct the host and port in storage:"
        return f"cannot reach PostgreSQL at {where}: connection refused ({fix})"
    if isinstance(e, socket.gaierror):
        return f"cannot reach PostgreSQL at {where}: no such host {host!r} (correct the host in storage:)"
    if isinstance(e, TimeoutError):
        return f"cannot reach PostgreSQL at {where}: no answer (check that it runs and that no firewall is in the way)"
    if isinstance(e, OSError):
        return f"cannot reach PostgreSQL at {where}: {e.strerror or e} (check storage: and that the server runs)"
    return f'PostgreSQL database "{database}" on {where}: {e} (check storage: and the server)'
