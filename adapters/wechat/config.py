"""A WeChat Official Account (公众号) in the admin's file: its keys, defaults and label."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from adapters.aes import aes_key
from adapters.wechat.notice import WindowNotice
from bot.config import Account
from bot.config_types import Duration

__all__ = ["WeChatAccount"]


class WeChatAccount(Account):
    default_label: ClassVar[str] = "公众号"
    secret_fields: ClassVar[tuple[str, ...]] = ("app_secret", "token", "encoding_aes_key")

    platform: Literal["wechat"]
    app_id: str = Field(min_length=1)
    app_secret: str = Field(min_length=1)
    token: str = Field(min_length=3, max_length=32)
    encoding_aes_key: str = ""  # empty: plaintext mode
    api_base_url: str = "https://api.weixin.qq.com"
    max_clock_skew: Duration = 600.0  # a callback's timestamp may be this far from now
    # sent once when a reply is refused because the 48-hour window closed (the reply is kept)
    window_notice: WindowNotice | None = None

    @field_validator("encoding_aes_key")
    @classmethod
    def _key(cls, v: str) -> str:
        return aes_key(v, required=False)
