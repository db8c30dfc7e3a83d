"""DingTalk robot inbound (HTTP receive mode; Stream mode parses with it too): verify the signature
headers, parse the JSON.

`sign = base64(HMAC_SHA256(key=appSecret, msg=timestamp + "\\n" + appSecret))`, and the
timestamp (ms) must be within an hour of now.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
from collections.abc import Mapping
from typing import Any

from adapters.dingtalk.config import DingTalkAccount
from adapters.jsonbody import parse_object
from bot.errors import BadRequest, SignatureError
from bot.model import Message

__all__ = ["sign", "verify", "to_message"]


def sign(timestamp_ms: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(account: DingTalkAccount, headers: Mapping[str, str], now: float) -> None:
    ts, given = headers.get("timestamp", ""), headers.get("sign", "")
    if not ts or not given:
        raise SignatureError("missing timestamp or sign header")
    if not re.fullmatch(r"[0-9]{1,15}", ts):  # isdigit() takes "²" and 400 nines
        raise BadRequest("the timestamp header is not a number of milliseconds")
    if abs(now - int(ts) / 1000) > account.max_clock_skew:
        raise SignatureError("the timestamp is too far from now (stale or replayed)")
    if not hmac.compare_digest(sign(ts, account.app_secret).encode(), given.encode()):
        raise SignatureError("sign does not match the app secret")


_KINDS = {"text": "text", "richText": "text", "picture": "image", "audio": "voice", "video": "video", "file": "file"}


def _ms(body: dict[str, Any], name: str) -> float:
    """A time in milliseconds, as seconds; absent is 0, anything but a finite number a BadRequest."""
    try:
        value = int(body.get(name) or 0) / 1000
    except (TypeError, ValueError, OverflowError):
        raise BadRequest(f"{name} is not a number of milliseconds") from None
    if not math.isfinite(value):
        raise BadRequest(f"{name} is not a number of milliseconds")
    return value


def _text(body: dict[str, Any]) -> str:
    text = body.get("text")
    return str(text.get("content", "")).strip() if isinstance(text, dict) else ""


def _code(part: dict[str, Any]) -> str:
    """A part's download code (what the robot file-download API takes); pictures may carry only the older one."""
    return str(part.get("downloadCode") or part.get("pictureDownloadCode") or "")


def _rich_text(content: dict[str, Any]) -> tuple[str, list[str]]:
    """richText (text with pasted pictures): the text parts, one line each, and the pictures' download codes."""
    parts = content.get("richText")
    texts: list[str] = []
    pictures: list[str] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            if part["text"].strip():
                texts.append(part["text"].strip())
        elif part.get("type", "picture") == "picture" and _code(part):
            pictures.append(_code(part))
    return "\n".join(texts), pictures


def to_message(account_name: str, raw: bytes) -> Message:
    body = parse_object(raw)
    sender = str(body.get("senderStaffId") or body.get("senderId") or "")
    msg_id = str(body.get("msgId") or "")
    if not sender or not msg_id:
        raise BadRequest("the message has no senderStaffId/senderId or msgId")
    created = _ms(body, "createAt")
    msgtype = str(body.get("msgtype") or "")
    content = body.get("content") if isinstance(body.get("content"), dict) else {}
    kind = _KINDS.get(msgtype, "unknown")
    pictures: list[str] = []
    if msgtype == "text":
        text = _text(body)
    elif msgtype == "richText":  # read as text, so a `#ticket` in it routes; its pictures ride in data
        text, pictures = _rich_text(content)
    else:
        text = str(content.get("recognition") or "").strip()  # audio: DingTalk's transcription
    msg = Message(
        account=account_name,
        sender=sender,
        sender_name=str(body.get("senderNick") or ""),
        kind=kind,  # type: ignore[arg-type]
        external_id=msg_id,
        sent_at=created,
        chat=str(body.get("conversationId") or "") if str(body.get("conversationType")) == "2" else "",
        text=text,
    )
    msg.data = {
        "session_webhook": str(body.get("sessionWebhook") or ""),
        "session_webhook_expires": _ms(body, "sessionWebhookExpiredTime"),
        "conversation_title": str(body.get("conversationTitle") or ""),
    }
    if pictures:
        msg.data["pictures"] = pictures
    if kind in ("image", "voice", "video", "file"):
        msg.data["media_id"] = _code(content)  # the core's name for the id a platform's media is fetched by
    if kind == "file":
        msg.data["filename"] = str(content.get("fileName") or "")
    return msg
