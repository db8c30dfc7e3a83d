"""A WeCom (企业微信) self-built app in the admin's file: its keys, defaults and label."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from adapters.aes import aes_key
from bot.config import Account
from bot.config_types import Duration

__all__ = ["WeComAccount"]


class WeComAccount(Account):
    default_label: ClassVar[str] = "企业微信"
    secret_fields: ClassVar[tuple[str, ...]] = ("secret", "token", "encoding_aes_key")

    platform: Literal["wecom"]
    corp_id: str = Field(min_length=1)
    agent_id: int
    secret: str = Field(min_length=1)
    token: str = Field(min_length=1)
    encoding_aes_key: str
    api_base_url: str = "https://qyapi.weixin.qq.com"
    max_clock_skew: Duration = 600.0  # a callback's timestamp may be this far from now

    @field_validator("encoding_aes_key")
    @classmethod
    def _key(cls, v: str) -> str:
        return aes_key(v, required=True)
