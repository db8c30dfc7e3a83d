"""WeCom 微信客服 (kf): WeChat users write to a kf account; kefu pulls their messages with sync_msg."""

from __future__ import annotations

from adapters.wecom_kf.config import WeComKfAccount
from bot.adapter import Adapter, Host, Platform

__all__ = ["PLATFORM", "WeComKfAccount"]


def _adapter(account: WeComKfAccount, host: Host) -> Adapter:
    # imported here: only a running kefu needs the glue and its clients, check-config only the schema
    from adapters.wecom_kf.adapter import WeComKfAdapter

    return WeComKfAdapter(account, host)


PLATFORM = Platform("wecom_kf", WeComKfAccount, _adapter)  # registered in pyproject.toml (kefu.platforms)
