"""The set-up view: each account's webhook URL, its last callback, its last send and its token;
the configuration with every secret masked; the audit log."""

from __future__ import annotations

import re
from typing import Any

import yaml
from aiohttp import web

from bot.adapter import Adapter
from bot.config import Config
from bot.log import redact, secrets_of
from console.host import ConsoleHost, host_of
from console.pages import render

__all__ = ["masked_config", "routes"]

MASK = "******"
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]+@")


def _mask(value: Any) -> Any:
    return MASK if value else value


def masked_config(config: Config) -> str:
    """The configuration as YAML, every secret replaced by ******."""
    data = config.model_dump(mode="json")
    for raw, acc in zip(data["accounts"], config.accounts, strict=True):
        for key in type(acc).secret_fields:
            if key in raw:
                raw[key] = _mask(raw[key])
    for grp in data.get("groups", {}).values():
        grp["webhook_key"], grp["secret"] = _mask(grp["webhook_key"]), _mask(grp["secret"])
        grp["webhook"] = re.sub(r"(access_token=)[^&]+", r"\1" + MASK, grp["webhook"])
    for key in ("storage", "bus"):
        data[key] = _URL_PASSWORD.sub(r"\1" + MASK + "@", data[key])
    for user in (data.get("console") or {}).get("users", []):
        user["password"], user["password_hash"] = _mask(user["password"]), _mask(user["password_hash"])
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120)
    return redact(text, secrets_of(config))  # whatever else holds a secret


def _base_url(request: web.Request) -> str:
    """How the platforms reach kefu: the proxy's scheme and host when it says them."""
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    return f"{scheme}://{host}"


def _webhooks(base: str, adapter: Adapter) -> list[str]:
    """The addresses a platform is given: one per path the adapter serves (none in a stream mode,
    where kefu connects out); a WebSocket path (a OneBot reverse WebSocket) as ws:// or wss://."""
    out = []
    for suffix in sorted({r.suffix for r in adapter.routes()}):
        url = base + adapter.base_path + suffix
        out.append(url.replace("http", "ws", 1) if suffix.endswith("/ws") else url)
    return out


async def _last_send(rt: ConsoleHost, account: str) -> dict[str, Any] | None:
    rows = await rt.store.query(
        "SELECT status, error, updated_at FROM messages WHERE account = $1 AND direction = 'out' "
        "AND status NOT IN ('pending', 'sending', 'retry') ORDER BY id DESC LIMIT 1",
        account,
    )
    return rows[0] if rows else None


async def page(request: web.Request) -> web.StreamResponse:
    rt = host_of(request)
    base = _base_url(request)
    accounts = []
    for acc in rt.config.accounts:
        adapter = rt.adapters[acc.name]
        try:
            token = await adapter.token_state()
        except Exception as e:  # the state store down: say so, show the rest
            token = f"无法读取 ({type(e).__name__})"
        accounts.append(
            {
                "acc": acc,
                "webhooks": _webhooks(base, adapter),
                "callback": await rt.callbacks.last(acc.name),
                "send": await _last_send(rt, acc.name),
                "token": token or "不需要",
            }
        )
    return await render(
        request,
        "setup.html",
        {
            "title": "接入设置",
            "accounts": accounts,
            "config": masked_config(rt.config),
            "audit": await rt.store.audit_log(50),
        },
    )


def routes(app: web.Application) -> None:
    app.router.add_get("/setup", page, name="setup")
