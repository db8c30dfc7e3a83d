"""The console's sessions: kept in state (shared by every process) under a hash of the cookie,
with the CSRF token of the forms and a one-time note; and the audit log's writer."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from aiohttp import web

from console.host import host_of

__all__ = [
    "Session",
    "SESSION",
    "COOKIE",
    "key_of",
    "load",
    "save",
    "cookie",
    "audit",
    "set_flash",
    "take_flash",
    "address_of",
]

COOKIE = "kefu_console"


@dataclass
class Session:
    user: str
    csrf: str
    at: float  # last saved
    flash: str = ""


SESSION = web.RequestKey("console_session", "Session | None")


def key_of(token: str) -> str:
    return "console:session:" + hashlib.sha256(token.encode()).hexdigest()  # state never holds the cookie


def address_of(request: web.Request) -> str:
    return request.remote or ""


def _secure(request: web.Request) -> bool:
    """Behind a TLS proxy the request is plain HTTP; the proxy says https in X-Forwarded-Proto."""
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
    """Lax, not Strict: a link to the console from an IM or a mail opens it logged in; what changes
    anything is a POST, which another site's page cannot make with the cookie, nor with the token."""
    response.set_cookie(
        name, value, path="/console/", httponly=True, samesite="Lax", secure=_secure(request), max_age=max_age
    )


async def load(request: web.Request) -> Session | None:
    token = request.cookies.get(COOKIE, "")
    if not token:
        return None
    rt = host_of(request)
    raw = await rt.state.get(key_of(token))
    if not raw:
        return None
    session = Session(**json.loads(raw))
    if rt.config.console and rt.clock.now() - session.at > 60:  # keep it alive while used
        await save(request, token, session)
    return session


async def save(request: web.Request, token: str, session: Session) -> None:
    rt = host_of(request)
    assert rt.config.console is not None
    session.at = rt.clock.now()
    value = json.dumps(asdict(session), ensure_ascii=False)
    await rt.state.set(key_of(token), value, ttl=rt.config.console.session_ttl)


async def set_flash(request: web.Request, text: str) -> None:
    """A note the next page shows once (the outcome of an action)."""
    session: Session = request[SESSION]
    session.flash = text
    await save(request, request.cookies[COOKIE], session)


async def take_flash(request: web.Request) -> str:
    session: Session = request[SESSION]
    text = session.flash
    if text:
        session.flash = ""
        await save(request, request.cookies[COOKIE], session)
    return text


async def audit(request: web.Request, action: str, detail: str = "", outcome: str = "ok", user: str = "") -> None:
    rt = host_of(request)
    session = request.get(SESSION)
    who = user or (session.user if session else "")
    await rt.store.audit(rt.clock.now(), who, address_of(request), action, detail, outcome)
