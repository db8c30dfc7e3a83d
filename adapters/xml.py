"""Safe parsing of the WeChat family's XML bodies: UTF-8 only, no DTDs, no entities, at most
MAX_DEPTH levels, and every failure a BadRequest with a clear message, never a 500."""

from __future__ import annotations

import codecs
import re
from typing import Any
from xml.etree import ElementTree

import xmltodict

from bot.errors import BadRequest

__all__ = ["parse_xml", "encrypted_field", "text_field", "int_field", "MAX_DEPTH"]

MAX_DEPTH = 8  # the platforms' XML is 2-3 levels deep (5 with <xml> and a list of items)
_CHUNK = 8192  # fed at a time, so depth is checked before a deep body is all built
_DECLARED = re.compile(r"""<\?xml[^>]*?\sencoding\s*=\s*["']([^"']*)["']""")
_UTF8 = {"utf-8", "utf8"}


def parse_xml(body: bytes | str) -> dict[str, Any]:
    """The `<xml>` element as a dict (as xmltodict reads it); BadRequest for anything else."""
    text = _utf8_text(body)
    upper = text.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise BadRequest("XML with a DTD or entities is refused")
    top = _bounded_tree(text)
    root = _value(top) if top.tag == "xml" else None
    if root is _IRREGULAR:  # attributes or mixed content, not the platforms' shape: xmltodict's reading
        root = _xmltodict(text)
    if not isinstance(root, dict):
        raise BadRequest("the body is not an <xml> document")
    return root


def _utf8_text(body: bytes | str) -> str:
    """The body as text: the platforms send UTF-8 (wechatpy reads nothing else), so a body in
    another encoding, or declaring one, is refused before any parser sees it."""
    if isinstance(body, bytes):
        try:
            text = body.removeprefix(codecs.BOM_UTF8).decode("utf-8")
        except UnicodeDecodeError as e:
            raise BadRequest(f"the body is not UTF-8 ({e.reason} at byte {e.start})") from None
    else:
        text = body.removeprefix("\ufeff")
    declared = _DECLARED.match(text)
    if declared and declared.group(1).strip().lower() not in _UTF8:
        raise BadRequest(f"the XML declares encoding {declared.group(1)[:40]!r}; only UTF-8 is taken")
    return text


def _bounded_tree(text: str) -> ElementTree.Element:
    """The parsed tree, refused as soon as it nests deeper than MAX_DEPTH. Fed as text, so the
    parser reads UTF-8 whatever the declaration says (already checked above)."""
    parser = ElementTree.XMLPullParser(events=("start", "end"))
    depth, top = 0, None
    try:
        for at in range(0, max(len(text), 1), _CHUNK):
            parser.feed(text[at : at + _CHUNK])
            for event, element in parser.read_events():
                depth += 1 if event == "start" else -1
                if depth > MAX_DEPTH:
                    raise BadRequest(f"XML nested deeper than {MAX_DEPTH} levels is refused")
                if top is None:
                    top = element
        parser.close()
    except BadRequest:
        raise
    except Exception as e:  # expat's errors, and anything else a parser may raise on odd input
        raise BadRequest(f"malformed XML: {type(e).__name__}: {str(e)[:200]}") from None
    if top is None:
        raise BadRequest("malformed XML: no element found")
    return top


_IRREGULAR = object()


def _value(el: ElementTree.Element) -> Any:
    """What xmltodict makes of an element without attributes or mixed content (its default,
    stripped text), built by the C parser: a fraction of xmltodict's cost on every callback.
    Recursive, but the tree is at most MAX_DEPTH deep."""
    if el.attrib:
        return _IRREGULAR
    if len(el) == 0:
        return (el.text or "").strip() or None
    if (el.text or "").strip() or any((child.tail or "").strip() for child in el):
        return _IRREGULAR
    out: dict[str, Any] = {}
    for child in el:
        v = _value(child)
        if v is _IRREGULAR:
            return _IRREGULAR
        if child.tag in out:  # a repeated element: a list, as xmltodict gives
            have = out[child.tag]
            out[child.tag] = [*have, v] if isinstance(have, list) else [have, v]
        else:
            out[child.tag] = v
    return out


def _xmltodict(text: str) -> Any:
    try:  # the text parsed above: UTF-8, no DTD, at most MAX_DEPTH deep
        doc = xmltodict.parse(text, disable_entities=True)
    except Exception as e:
        raise BadRequest(f"malformed XML: {type(e).__name__}: {str(e)[:200]}") from None
    return doc.get("xml") if isinstance(doc, dict) else None


_TOKEN = re.compile(rb"<!\[CDATA\[|<!--|<Encrypt>")  # what the scan stops at; the rest is skipped in C
_CLOSING = {
    b"<![CDATA[": (b"]]>", "CDATA section"),
    b"<!--": (b"-->", "comment"),
    b"<Encrypt>": (b"</Encrypt>", "<Encrypt>"),
}
_BASE64 = re.compile(rb"[A-Za-z0-9+/]+={0,2}")
_MAX_SECTIONS = 1000  # a callback has a dozen CDATA sections; thousands are no callback, only work


def encrypted_field(body: bytes) -> str:
    """The base64 text of the body's one `<Encrypt>` element, read without parsing the body: the
    platform signs (msg_signature) this field alone, so nothing else of an unsigned body is looked
    at before the signature is checked. One linear scan, no recursion; CDATA sections and comments
    are skipped, so a customer's text in compatible mode cannot pose as the field."""
    found: list[bytes] = []
    at = sections = 0
    while len(found) < 2 and (token := _TOKEN.search(body, at)) is not None:
        sections += 1
        if sections > _MAX_SECTIONS:
            raise BadRequest(f"the body has more than {_MAX_SECTIONS} CDATA sections or comments")
        closing, what = _CLOSING[token.group()]
        end = body.find(closing, token.end())
        if end < 0:
            raise BadRequest(f"the body has an unterminated {what}")
        if what == "<Encrypt>":
            found.append(body[token.end() : end])
        at = end + len(closing)
    if not found:
        raise BadRequest("the body has no <Encrypt>")
    if len(found) > 1:
        raise BadRequest("the body has more than one <Encrypt>")
    value = found[0].strip()
    if value.startswith(b"<![CDATA[") and value.endswith(b"]]>"):
        value = value[9:-3].strip()
    if not _BASE64.fullmatch(value):
        raise BadRequest("<Encrypt> is not base64")
    return value.decode("ascii")


def text_field(root: dict[str, Any], name: str) -> str:
    """A text field; absent is "". Repeated or nested, it parses as a list or a dict, which no
    platform sends and which must not travel on as a sender or a media id: a BadRequest."""
    value = root.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"<{name}> is not text")
    return value


def int_field(root: dict[str, Any], name: str) -> int:
    """An integer field (CreateTime, MsgId); absent is 0, garbage is a BadRequest."""
    value = text_field(root, name)
    if not value:
        return 0
    try:
        return int(value.strip())
    except ValueError:
        raise BadRequest(f"<{name}> is not a number") from None
