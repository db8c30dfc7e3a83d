"""A DingTalk (钉钉) enterprise internal robot (企业内部应用机器人) in the admin's file: keys, defaults, label."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from bot.config import Account
from bot.config_types import Duration

__all__ = ["DingTalkAccount"]


class DingTalkAccount(Account):
    default_label: ClassVar[str] = "钉钉"
    secret_fields: ClassVar[tuple[str, ...]] = ("app_secret",)

    platform: Literal["dingtalk"]
    mode: Literal["http", "stream"] = "http"  # HTTP receive mode, or Stream mode (dingtalk-stream)
    stream_endpoint: str = "https://api.dingtalk.com"  # where Stream mode opens its connection
    app_key: str = Field(min_length=1)
    app_secret: str = Field(min_length=1)
    robot_code: str = ""  # default: the app_key
    api_base_url: str = "https://api.dingtalk.com"
    max_clock_skew: Duration = 3600.0  # a callback's timestamp may be this far from now

    @property
    def robot(self) -> str:
        return self.robot_code or self.app_key
