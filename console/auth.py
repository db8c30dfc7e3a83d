"""Logging in to the console: users from the config, sessions kept in state (shared by every
process, HttpOnly SameSite cookies), a CSRF token on every form, wrong passwords rate-limited,
and every login and refusal written to the audit log."""

from __future__ import annotations

import asyncio
import hmac
import secrets
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from loguru import logger

from console.host import host_of
from console.pages import render
from console.passwords import check
from console.session import COOKIE, SESSION, Session, address_of, audit, cookie, key_of, load, save

__all__ = ["guard", "routes", "LOGIN_COOKIE"]

LOGIN_COOKIE = "kefu_console_login"  # the login form's CSRF token (double submit: no session yet)
PUBLIC = {"login", "login_post", "static"}
ADDRESS_FACTOR = 4  # wrong passwords from one address, any user names: this many times login_attempts


def _back(path: str) -> str:
    """Where to go after logging in: a console page only, never another site ('' otherwise)."""
    ok = path.startswith("/console/") and not path.startswith("/console/login") and "\\" not in path
    return path if ok and "//" not in path else ""


def _same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


@web.middleware
async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """No session: the login page. A POST without the session's CSRF token: 403."""
    name = request.match_info.route.name
    request[SESSION] = session = await load(request)
    if name in PUBLIC:
        return await handler(request)
    if session is None:
        if request.path.startswith("/console/api/"):
            return web.json_response({"error": "请先登录"}, status=401)
        back = request.path_qs if request.method == "GET" and request.path != "/console/" else ""
        raise web.HTTPFound("/console/login" + (f"?{urlencode({'next': back})}" if back else ""))
    if request.method == "POST":
        form = await request.post()
        if not _same(str(form.get("csrf", "")), session.csrf):
            logger.warning("console: {} {} refused: no valid CSRF token", request.method, request.path)
            await audit(request, "csrf_refused", request.path, "refused")
            return web.Response(status=403, text="CSRF 校验失败:请刷新页面后重试\n")
    return await handler(request)


async def login_page(
    request: web.Request, error: str = "", status: int = 200, back: str | None = None
) -> web.StreamResponse:
    if request[SESSION] is not None and not error:
        raise web.HTTPFound("/console/")
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    back = _back(request.query.get("next", "")) if back is None else back
    context = {"login_csrf": token, "error": error, "next": back}
    response = await render(request, "login.html", context, status=status)
    cookie(request, response, LOGIN_COOKIE, token, 3600)
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
    back = _back(str(form.get("next", "")))  # kept through a wrong password
    fails = f"console:fails-user:{address_of(request)}:{username}"
    # and from the address whatever the names: trying many names costs a scrypt each
    from_address = f"console:fails-address:{address_of(request)}"
    counts = [int(n or 0) for n in await rt.state.get_many([fails, from_address])]
    if counts[0] >= cfg.login_attempts or counts[1] >= ADDRESS_FACTOR * cfg.login_attempts:
        await audit(request, "login_refused", "too many wrong passwords", "refused", user=username)
        wait = int(cfg.login_window)
        return await login_page(request, f"密码错误次数过多,请 {wait} 秒后再试", status=429, back=back)
    user = next((u for u in cfg.users if u.name == username), None)
    ok = await asyncio.to_thread(check, password, user.password if user else "", user.password_hash if user else "")
    if not ok or user is None:
        await rt.state.incr(fails, cfg.login_window)
        await rt.state.incr(from_address, cfg.login_window)
        await audit(request, "login_refused", "wrong user name or password", "refused", user=username)
        return await login_page(request, "用户名或密码错误", status=401, back=back)
    await rt.state.delete(fails)
    token = secrets.token_urlsafe(32)
    session = Session(user=user.name, csrf=secrets.token_urlsafe(32), at=0.0)
    request[SESSION] = session
    await save(request, token, session)
    await audit(request, "login")
    response = web.HTTPSeeOther(back or "/console/")
    cookie(request, response, COOKIE, token, int(cfg.session_ttl))
    response.del_cookie(LOGIN_COOKIE, path="/console/")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    await audit(request, "logout")
    await host_of(request).state.delete(key_of(request.cookies.get(COOKIE, "")))
    response = web.HTTPSeeOther("/console/login")
    response.del_cookie(COOKIE, path="/console/")
    raise response


def routes(app: web.Application) -> None:
    app.router.add_get("/login", login_page, name="login")
    app.router.add_post("/login", login, name="login_post")
    app.router.add_post("/logout", logout, name="logout")
