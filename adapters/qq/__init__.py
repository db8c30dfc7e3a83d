"""QQ in either role: OneBot v11 (NapCat, Lagrange) or the official QQ Bot API, by `protocol`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.qq.official.adapter import OfficialAdapter
from adapters.qq.onebot.adapter import OneBotAdapter
from bot.adapter import Adapter
from bot.config import QQAccount

if TYPE_CHECKING:
    from bot.app import Runtime

__all__ = ["ADAPTER", "OneBotAdapter", "OfficialAdapter"]


def ADAPTER(account: QQAccount, runtime: Runtime) -> Adapter:  # noqa: N802 - the name the core looks up
    """The core builds each account's adapter as ADAPTER(account, runtime): pick one by protocol."""
    if account.protocol == "official":
        return OfficialAdapter(account, runtime)
    return OneBotAdapter(account, runtime)
