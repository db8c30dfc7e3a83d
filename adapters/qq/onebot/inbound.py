"""OneBot v11 inbound (NapCat, Lagrange): the HTTP POST signature, CQ codes and message events.

Pure functions: bytes and headers in, `bot.Message` out. A message is a CQ-code string or an
array of `{type, data}` segments; both are read into the same segments first.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from typing import Any

from adapters.jsonbody import parse_object
from bot.errors import BadRequest, SignatureError
from bot.model import Kind, Message

__all__ = [
    "sign",
    "verify",
    "load_event",
    "is_message",
    "to_message",
    "segments_of",
    "escape",
    "unescape",
    "text_segments",
]

_CQ = re.compile(r"\[CQ:([a-zA-Z0-9_.-]+)((?:,[^\],]*)*)\]")
_MEDIA_KINDS: dict[str, Kind] = {"image": "image", "record": "voice", "video": "video", "file": "file"}


def sign(secret: str, body: bytes) -> str:
    """The X-Signature header value: sha1=<hex HMAC_SHA1(secret, raw body)>."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Check X-Signature. Without a secret nothing proves who posted, so HTTP POST is refused
    (the account then takes events over its reverse WebSocket only, which has the access token)."""
    if not secret:
        raise SignatureError("the account has no secret, so it takes no HTTP POST events (set `secret`)")
    given = headers.get("X-Signature", "")
    if not given:
        raise SignatureError("missing X-Signature header (the account has a secret)")
    if not hmac.compare_digest(sign(secret, body).encode(), given.strip().lower().encode()):
        raise SignatureError("X-Signature does not match the account's secret")


def escape(text: str, *, param: bool = False) -> str:
    text = text.replace("&", "&amp;").replace("[", "&#91;").replace("]", "&#93;")
    return text.replace(",", "&#44;") if param else text


def unescape(text: str) -> str:
    return text.replace("&#44;", ",").replace("&#91;", "[").replace("&#93;", "]").replace("&amp;", "&")


def text_segments(text: str) -> list[dict[str, Any]]:
    """What kefu sends: one text segment, so nothing needs escaping."""
    return [{"type": "text", "data": {"text": text}}]


def segments_of(message: Any) -> list[dict[str, Any]]:
    """A CQ-code string or an array of segments, as segments."""
    if isinstance(message, list):
        out = []
        for seg in message:
            if isinstance(seg, dict) and isinstance(seg.get("type"), str):
                data = seg.get("data") if isinstance(seg.get("data"), dict) else {}
                out.append({"type": seg["type"], "data": {str(k): v for k, v in data.items()}})
        return out
    if isinstance(message, dict) and "type" in message:  # a single segment object
        return segments_of([message])
    if not isinstance(message, str):
        raise BadRequest("message is neither a CQ-code string nor an array of segments")
    out, pos = [], 0
    for m in _CQ.finditer(message):
        if m.start() > pos:
            out.append({"type": "text", "data": {"text": unescape(message[pos : m.start()])}})
        data: dict[str, Any] = {}
        for part in m.group(2).split(",")[1:]:
            key, _, value = part.partition("=")
            data[key] = unescape(value)
        out.append({"type": m.group(1), "data": data})
        pos = m.end()
    if pos < len(message):
        out.append({"type": "text", "data": {"text": unescape(message[pos:])}})
    return out


def load_event(raw: bytes | str) -> dict[str, Any]:
    return parse_object(raw)


def is_message(event: Mapping[str, Any]) -> bool:
    """Message events are taken; meta events (heartbeat, lifecycle), notices, requests and the bot's
    own sent messages (NapCat's message_sent) are acknowledged and ignored."""
    return event.get("post_type") == "message"


def _id(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().lstrip("-").isdigit():
        raise BadRequest(f"{what} is missing or not a number")
    return str(value).strip()


def _media(d: Mapping[str, Any]) -> dict[str, str]:
    """A media segment's `url` (only http(s): the agent may see it) and `file` (only a bare name, the
    implementation's own id for it). Paths on the OneBot host (file:///D:/..., D:\\..., /root/...) and
    base64:// data are useless elsewhere and never shown."""
    out: dict[str, str] = {}
    for value in (d.get("url"), d.get("file")):
        if isinstance(value, str) and value.lower().startswith(("http://", "https://")):
            out["url"] = value
            break
    name = d.get("file")
    if isinstance(name, str) and name and not any(c in name for c in ":/\\"):
        out["file"] = name
    return out


def to_message(account_name: str, event: Mapping[str, Any]) -> Message:
    """One message event (private or group) as a Message; `data.at_self` says if it @-ed the bot."""
    message_type = event.get("message_type")
    if message_type not in ("private", "group"):
        raise BadRequest(f"unknown message_type {message_type!r}")
    message_id = _id(event.get("message_id"), "message_id")
    user_id = _id(event.get("user_id"), "user_id")
    self_id = str(event.get("self_id") or "")
    chat = _id(event.get("group_id"), "group_id") if message_type == "group" else ""
    sender = event.get("sender") if isinstance(event.get("sender"), dict) else {}
    try:
        sent_at = float(event.get("time") or time.time())
    except (TypeError, ValueError):
        raise BadRequest("time is not a number") from None

    texts: list[str] = []
    reply_to, kind, at_self = "", "", False
    data: dict[str, Any] = {}
    for seg in segments_of(event.get("message", event.get("raw_message", ""))):
        t, d = seg["type"], seg["data"]
        if t == "text":
            texts.append(str(d.get("text", "")))
        elif t == "reply":
            reply_to = str(d.get("id", ""))
        elif t == "at":
            at_self = at_self or (bool(self_id) and str(d.get("qq", "")) == self_id)
        elif t == "face":
            texts.append("[表情]")
        elif t in _MEDIA_KINDS and not kind:
            kind = _MEDIA_KINDS[t]
            data.update(_media(d))
    text = "".join(texts).strip()
    if not kind:
        kind = "text" if text else "unknown"
    data["at_self"] = at_self
    data["message_id"] = message_id
    if self_id:
        data["self_id"] = self_id
    return Message(
        account=account_name,
        sender=user_id,
        sender_name=str(sender.get("card") or sender.get("nickname") or ""),
        kind=kind,  # type: ignore[arg-type]
        # message_id is only unique per bot account: keyed with self_id for dedupe
        external_id=f"{self_id}:{message_id}" if self_id else message_id,
        sent_at=sent_at,
        text=text,
        chat=chat,
        reply_to=reply_to,
        data=data,
    )
