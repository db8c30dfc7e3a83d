"""The EncodingAESKey of the WeChat family's callback crypto (公众号, 企业微信, 微信客服), as the admin writes it."""

from __future__ import annotations

import re

__all__ = ["aes_key"]


def aes_key(v: str, *, required: bool) -> str:
    """The key, or ValueError saying what is wrong with it (empty is plaintext mode where allowed)."""
    if not v:
        if required:
            raise ValueError("is required (43 characters, from the platform's console)")
        return v
    if len(v) != 43:
        raise ValueError(f"must be 43 characters (got {len(v)})")
    if not re.fullmatch(r"[A-Za-z0-9+/]{43}", v):
        raise ValueError("must be base64 characters only (A-Z a-z 0-9 + /)")
    return v
