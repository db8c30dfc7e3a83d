"""A WeCom 微信客服 (kf) account in the admin's file: its keys, defaults and label."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from adapters.aes import aes_key
from bot.config import Account
from bot.config_types import Duration

__all__ = ["WeComKfAccount"]


class WeComKfAccount(Account):
    """Customer role: WeChat users write to a kf account; kefu pulls with sync_msg."""

    default_label: ClassVar[str] = "微信客服"
    secret_fields: ClassVar[tuple[str, ...]] = ("secret", "token", "encoding_aes_key")

    platform: Literal["wecom_kf"]
    corp_id: str = Field(min_length=1)
    secret: str = Field(min_length=1)  # the 微信客服 secret
    token: str = Field(min_length=1)
    encoding_aes_key: str
    open_kfid: str = Field(min_length=1)
    api_base_url: str = "https://qyapi.weixin.qq.com"
    max_clock_skew: Duration = 600.0  # a callback's timestamp may be this far from now

    @field_validator("encoding_aes_key")
    @classmethod
    def _key(cls, v: str) -> str:
        return aes_key(v, required=True)
