"""A supervisor's browser without the browser: a cookie jar, the login form and CSRF tokens read
from the pages, over real HTTP (tests/test_console_http.py)."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from adapters.sandbox import Sandbox

__all__ = ["Supervisor", "CONSOLE", "PASSWORD", "csrf_of"]

PASSWORD = "s3cret-console-pass"
CONSOLE = {"console": {"users": [{"name": "admin", "password": PASSWORD}]}}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "the page has no CSRF token"
    return m.group(1)


class Supervisor:
    def __init__(self, sb: Sandbox):
        self.base = f"{sb.base_url}/console"
        # cookies of 127.0.0.1 (an address, not a name) are kept only by an "unsafe" jar
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def __aenter__(self) -> Supervisor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.close()

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        async with self.http.get(self.base + path, allow_redirects=False, **kw) as r:
            return r.status, (await r.text()) if r.status != 302 else r.headers.get("Location", "")

    async def login(self, user: str = "admin", password: str = PASSWORD) -> tuple[int, str]:
        _, page = await self.get("/login")
        form = {"username": user, "password": password, "csrf": csrf_of(page)}
        async with self.http.post(self.base + "/login", data=form, allow_redirects=False) as r:
            if r.status == 303:
                _, desk = await self.get("/")
                self.csrf = csrf_of(desk)
                return r.status, r.headers["Location"]
            return r.status, await r.text()

    async def post(self, path: str, data: dict[str, str] | None = None, csrf: str | None = None) -> tuple[int, str]:
        form = {**(data or {}), "csrf": self.csrf if csrf is None else csrf}
        if csrf == "":
            form.pop("csrf")
        async with self.http.post(self.base + path, data=form, allow_redirects=False) as r:
            return r.status, r.headers.get("Location", "") if r.status in (302, 303) else await r.text()
