"""Safe parsing of the JSON platforms' bodies (DingTalk, QQ): a JSON object or a BadRequest."""

from __future__ import annotations

import json
from typing import Any

from bot.errors import BadRequest

__all__ = ["parse_object"]


def parse_object(raw: bytes | str) -> dict[str, Any]:
    """The body as a dict; anything else (not JSON, nested deeper than the parser goes) is a 400."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not JSON") from None
    if not isinstance(value, dict):
        raise BadRequest("the body is not a JSON object")
    return value
