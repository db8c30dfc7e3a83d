"""WeChat Official Account (公众号): customer side."""

from __future__ import annotations

from adapters.wechat.config import WeChatAccount
from bot.adapter import Adapter, Host, Platform

__all__ = ["PLATFORM", "WeChatAccount"]


def _adapter(account: WeChatAccount, host: Host) -> Adapter:
    # imported here: only a running kefu needs the glue and its clients, check-config only the schema
    from adapters.wechat.adapter import WeChatAdapter

    return WeChatAdapter(account, host)


PLATFORM = Platform("wechat", WeChatAccount, _adapter)  # registered in pyproject.toml (kefu.platforms)
