"""QQ in either role: OneBot v11 (NapCat, Lagrange) or the official QQ Bot API, by `protocol`."""

from __future__ import annotations

from adapters.qq.config import QQAccount
from bot.adapter import Adapter, Host, Platform

__all__ = ["PLATFORM", "QQAccount", "adapter"]


def adapter(account: QQAccount, host: Host) -> Adapter:
    """One account's adapter, by its protocol (imported only by a running kefu: check-config reads the schema)."""
    if account.protocol == "official":
        from adapters.qq.official.adapter import OfficialAdapter

        return OfficialAdapter(account, host)
    from adapters.qq.onebot.adapter import OneBotAdapter

    return OneBotAdapter(account, host)


PLATFORM = Platform("qq", QQAccount, adapter)  # registered in pyproject.toml (kefu.platforms)
