"""Logging in to the console: users from the config, sessions kept in state (shared by every
process, HttpOnly SameSite cookies), a CSRF token on every form, wrong passwords rate-limited,
and every login and refusal written to the audit log."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web
from loguru import logger

from console.host import host_of
from console.passwords import check

__all__ = ["Session", "SESSION", "guard", "routes", "audit", "take_flash", "set_flash", "address_of"]

COOKIE = "kefu_console"
LOGIN_COOKIE = "kefu_console_login"  # the login form's CSRF token (double submit: no session yet)
PUBLIC = {"login", "login_post", "static"}


@dataclass
class Session:
    user: str
    csrf: str
    at: float  # last saved
    flash: str = ""


SESSION = web.RequestKey("console_session", "Session | None")


def _key(token: str) -> str:
    return "console:session:" + hashlib.sha256(token.encode()).hexdigest()  # state never holds the cookie


def address_of(request: web.Request) -> str:
    return request.remote or ""


def _secure(request: web.Request) -> bool:
    """Behind a TLS proxy the request is plain HTTP; the proxy says https in X-Forwarded-Proto."""
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def _cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, path="/console/", httponly=True, samesite="Strict", secure=_secure(request), max_age=max_age
    )


async def _load(request: web.Request) -> Session | None:
    token = request.cookies.get(COOKIE, "")
    if not token:
        return None
    rt = host_of(request)
    raw = await rt.state.get(_key(token))
    if not raw:
        return None
    session = Session(**json.loads(raw))
    if rt.config.console and rt.clock.now() - session.at > 60:  # keep it alive while used
        await _save(request, token, session)
    return session


async def _save(request: web.Request, token: str, session: Session) -> None:
    rt = host_of(request)
    assert rt.config.console is not None
    session.at = rt.clock.now()
    await rt.state.set(_key(token), json.dumps(asdict(session), ensure_ascii=False), ttl=rt.config.console.session_ttl)


async def set_flash(request: web.Request, text: str) -> None:
    """A note the next page shows once (the outcome of an action)."""
    session: Session = request[SESSION]
    session.flash = text
    await _save(request, request.cookies[COOKIE], session)


async def take_flash(request: web.Request) -> str:
    session: Session = request[SESSION]
    text = session.flash
    if text:
        session.flash = ""
        await _save(request, request.cookies[COOKIE], session)
    return text


async def audit(request: web.Request, action: str, detail: str = "", outcome: str = "ok", user: str = "") -> None:
    rt = host_of(request)
    session = request.get(SESSION)
    who = user or (session.user if session else "")
    await rt.store.audit(rt.clock.now(), who, address_of(request), action, detail, outcome)


def _same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


@web.middleware
async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """No session: the login page. A POST without the session's CSRF token: 403."""
    name = request.match_info.route.name
    request[SESSION] = session = await _load(request)
    if name in PUBLIC:
        return await handler(request)
    if session is None:
        if request.path.startswith("/console/api/"):
            return web.json_response({"error": "请先登录"}, status=401)
        raise web.HTTPFound("/console/login")
    if request.method == "POST":
        form = await request.post()
        if not _same(str(form.get("csrf", "")), session.csrf):
            logger.warning("console: {} {} refused: no valid CSRF token", request.method, request.path)
            await audit(request, "csrf_refused", request.path, "refused")
            return web.Response(status=403, text="CSRF 校验失败:请刷新页面后重试\n")
    return await handler(request)


async def login_page(request: web.Request, error: str = "", status: int = 200) -> web.StreamResponse:
    from console.site import render

    if request[SESSION] is not None and not error:
        raise web.HTTPFound("/console/")
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response = await render(request, "login.html", {"login_csrf": token, "error": error}, status=status)
    _cookie(request, response, LOGIN_COOKIE, token, 3600)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    rt = host_of(request)
    cfg = rt.config.console
    assert cfg is not None
    form = await request.post()
    if not _same(str(form.get("csrf", "")), request.cookies.get(LOGIN_COOKIE, "")):
        await audit(request, "csrf_refused", "login", "refused", user=str(form.get("username", ""))[:64])
        return web.Response(status=403, text="CSRF 校验失败:请刷新登录页后重试\n")
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    fails = f"console:fails:{username}:{address_of(request)}"
    if int(await rt.state.get(fails) or 0) >= cfg.login_attempts:
        await audit(request, "login_refused", "too many wrong passwords", "refused", user=username)
        wait = int(cfg.login_window)
        return await login_page(request, f"密码错误次数过多,请 {wait} 秒后再试", status=429)
    user = next((u for u in cfg.users if u.name == username), None)
    ok = await asyncio.to_thread(check, password, user.password if user else "", user.password_hash if user else "")
    if not ok or user is None:
        await rt.state.incr(fails, cfg.login_window)
        await audit(request, "login_refused", "wrong user name or password", "refused", user=username)
        return await login_page(request, "用户名或密码错误", status=401)
    await rt.state.delete(fails)
    token = secrets.token_urlsafe(32)
    session = Session(user=user.name, csrf=secrets.token_urlsafe(32), at=0.0)
    request[SESSION] = session
    await _save(request, token, session)
    await audit(request, "login")
    response = web.HTTPSeeOther("/console/")
    _cookie(request, response, COOKIE, token, int(cfg.session_ttl))
    response.del_cookie(LOGIN_COOKIE, path="/console/")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    await audit(request, "logout")
    await host_of(request).state.delete(_key(request.cookies.get(COOKIE, "")))
    response = web.HTTPSeeOther("/console/login")
    response.del_cookie(COOKIE, path="/console/")
    raise response


def routes(app: web.Application) -> None:
    app.router.add_get("/login", login_page, name="login")
    app.router.add_post("/login", login, name="login_post")
    app.router.add_post("/logout", logout, name="logout")
