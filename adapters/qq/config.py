"""A QQ account in the admin's file: its keys, defaults and label. One schema for both protocols,
`protocol` choosing which keys are needed (adapters/qq/__init__.py picks the adapter by it)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import model_validator

from bot.config import Account

__all__ = ["QQAccount"]


class QQAccount(Account):
    """QQ through OneBot v11 (NapCat, Lagrange: HTTP POST events and a reverse WebSocket) or the
    official QQ Bot API (webhook with Ed25519 signatures)."""

    default_label: ClassVar[str] = "QQ"
    secret_fields: ClassVar[tuple[str, ...]] = ("access_token", "secret", "app_secret")

    platform: Literal["qq"]
    protocol: Literal["onebot", "official"]
    # onebot: the token the OneBot implementation presents (Authorization: Bearer) on the reverse
    # WebSocket and HTTP API, and the secret its HTTP POST events are signed with (X-Signature)
    access_token: str = ""
    secret: str = ""
    api_url: str = ""  # onebot: the implementation's HTTP API root, when no reverse WebSocket is connected
    # official: the bot's AppID and AppSecret (the secret also seeds the Ed25519 key)
    app_id: str = ""
    app_secret: str = ""
    api_base_url: str = "https://api.sgroup.qq.com"
    token_url: str = "https://bots.qq.com/app/getAppAccessToken"

    @model_validator(mode="after")
    def _protocol_fields(self) -> QQAccount:
        if self.protocol == "official" and not (self.app_id and self.app_secret):
            raise ValueError("protocol official needs app_id and app_secret")
        if self.protocol == "onebot" and not (self.access_token or self.secret):
            raise ValueError("protocol onebot needs access_token (reverse WebSocket) and/or secret (HTTP POST)")
        return self
