"""Safe parsing of the WeChat family's XML bodies: no DTDs, no entities, clear errors."""

from __future__ import annotations

from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict

from bot.errors import BadRequest

__all__ = ["parse_xml", "int_field"]


def parse_xml(body: bytes | str) -> dict[str, Any]:
    """The `<xml>` element as a dict; BadRequest for anything else."""
    raw = body.encode() if isinstance(body, str) else body
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise BadRequest("XML with a DTD or entities is refused")
    try:
        doc = xmltodict.parse(raw, disable_entities=True)
    except (ExpatError, ValueError) as e:
        raise BadRequest(f"malformed XML: {e}") from None
    root = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        raise BadRequest("the body is not an <xml> document")
    return root


def int_field(root: dict[str, Any], name: str) -> int:
    """An integer field (CreateTime, MsgId); absent is 0, garbage is a BadRequest."""
    value = root.get(name)
    if value in (None, ""):
        return 0
    try:
        return int(str(value).strip())
    except ValueError:
        raise BadRequest(f"<{name}> is not a number") from None
