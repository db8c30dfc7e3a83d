"""WeCom (企业微信) self-built app: desk side, and group notices."""

from __future__ import annotations

from adapters.wecom.config import WeComAccount
from bot.adapter import Adapter, Host, Platform

__all__ = ["PLATFORM", "WeComAccount"]


def _adapter(account: WeComAccount, host: Host) -> Adapter:
    # imported here: only a running kefu needs the glue and its clients, check-config only the schema
    from adapters.wecom.adapter import WeComAdapter

    return WeComAdapter(account, host)


PLATFORM = Platform("wecom", WeComAccount, _adapter)  # registered in pyproject.toml (kefu.platforms)
