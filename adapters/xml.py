"""Safe parsing of the WeChat family's XML bodies: no DTDs, no entities, clear errors."""

from __future__ import annotations

from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict

from bot.errors import BadRequest

__all__ = ["parse_xml"]


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
