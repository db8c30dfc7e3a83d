"""DingTalk (钉钉) enterprise robot: either role; custom group robots for notices."""

from __future__ import annotations

from adapters.dingtalk.config import DingTalkAccount
from bot.adapter import Adapter, Host, Platform

__all__ = ["PLATFORM", "DingTalkAccount"]


def _adapter(account: DingTalkAccount, host: Host) -> Adapter:
    # imported here: only a running kefu needs the glue and its clients, check-config only the schema
    from adapters.dingtalk.adapter import DingTalkAdapter

    return DingTalkAdapter(account, host)


PLATFORM = Platform("dingtalk", DingTalkAccount, _adapter)  # registered in pyproject.toml (kefu.platforms)
