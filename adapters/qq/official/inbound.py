"""Official QQ Bot API webhook inbound: the Ed25519 key seeded from the bot secret, the op 13 URL
validation, the signature on every event, and C2C / group @ message events.

Keys: `seed = (secret repeated until 32 bytes)[:32]`; events are signed over
`X-Signature-Timestamp + raw body`; op 13 answers `sign(event_ts + plain_token)`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from adapters.jsonbody import parse_object
from bot.errors import BadRequest, SignatureError
from bot.model import Kind, Message

__all__ = ["seed_of", "signing_key", "validation_reply", "verify", "load", "to_message", "MESSAGE_EVENTS"]

MESSAGE_EVENTS = {"C2C_MESSAGE_CREATE", "GROUP_AT_MESSAGE_CREATE"}
_ATTACHMENT_KINDS: dict[str, Kind] = {"image": "image", "voice": "voice", "audio": "voice", "video": "video"}
_TS = re.compile(r"^\d{1,20}$")
# op 13 signs event_ts + plain_token for anyone who asks: keep both to harmless characters, so an
# answer can never double as the signature of a forged event (whose body is a JSON object)
_PLAIN_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def seed_of(secret: str) -> bytes:
    seed = secret.encode()
    if not seed:
        raise ValueError("the bot secret is empty")
    while len(seed) < 32:
        seed *= 2
    return seed[:32]


def signing_key(secret: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed_of(secret))


def validation_reply(key: Ed25519PrivateKey, d: Any) -> dict[str, str]:
    """op 13: {plain_token, signature: hex(sign(event_ts + plain_token))}."""
    if not isinstance(d, dict):
        raise BadRequest("op 13 without a d object")
    token, ts = str(d.get("plain_token") or ""), str(d.get("event_ts") or "")
    if not _PLAIN_TOKEN.match(token) or not _TS.match(ts):
        raise BadRequest("op 13 needs a plain_token of letters and digits and a numeric event_ts")
    return {"plain_token": token, "signature": key.sign((ts + token).encode()).hex()}


def verify(public: Ed25519PublicKey, headers: Mapping[str, str], body: bytes, now: float, max_skew: float) -> None:
    given, ts = headers.get("X-Signature-Ed25519", ""), headers.get("X-Signature-Timestamp", "")
    if not given or not ts:
        raise SignatureError("missing X-Signature-Ed25519 or X-Signature-Timestamp header")
    if not _TS.match(ts):
        raise SignatureError("X-Signature-Timestamp is not a number of seconds")
    if abs(now - int(ts)) > max_skew:
        raise SignatureError("X-Signature-Timestamp is too far from now (stale or replayed)")
    try:
        sig = bytes.fromhex(given)
    except ValueError:
        raise SignatureError("X-Signature-Ed25519 is not hex") from None
    if len(sig) != 64 or sig[63] & 0xE0:
        raise SignatureError("X-Signature-Ed25519 is not an Ed25519 signature")
    try:
        public.verify(sig, ts.encode() + body)
    except InvalidSignature:
        raise SignatureError("X-Signature-Ed25519 does not match the bot secret") from None


def load(raw: bytes) -> dict[str, Any]:
    """The payload {id, op, d, s, t}, with op an int."""
    payload = parse_object(raw)
    op = payload.get("op")
    if isinstance(op, bool) or not isinstance(op, int):
        raise BadRequest("the payload has no numeric op")
    return payload


def _time(value: Any) -> float:
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return time.time()


def _url(url: str) -> str:
    return url if "://" in url or not url else f"https://{url}"  # attachment urls come without a scheme


def to_message(account_name: str, payload: Mapping[str, Any]) -> Message | None:
    """A C2C or group @ message event as a Message; None for other events."""
    event = payload.get("t")
    if event not in MESSAGE_EVENTS:
        return None
    d = payload.get("d")
    if not isinstance(d, dict):
        raise BadRequest(f"{event} without a d object")
    author = d.get("author") if isinstance(d.get("author"), dict) else {}
    msg_id = str(d.get("id") or "")
    if event == "GROUP_AT_MESSAGE_CREATE":
        sender, chat = str(author.get("member_openid") or ""), str(d.get("group_openid") or "")
        if not chat:
            raise BadRequest("GROUP_AT_MESSAGE_CREATE without group_openid")
    else:
        sender, chat = str(author.get("user_openid") or ""), ""
    if not sender or not msg_id:
        raise BadRequest(f"{event} without an id or the author's openid")
    text = str(d.get("content") or "").strip()  # a group @ leaves a leading space
    kind: Kind = "text" if text else "unknown"
    data: dict[str, Any] = {"msg_id": msg_id, "event_id": str(payload.get("id") or "")}
    attachments = d.get("attachments") if isinstance(d.get("attachments"), list) else []
    for att in attachments:
        if not isinstance(att, dict):
            continue
        ctype = str(att.get("content_type") or "")
        kind = _ATTACHMENT_KINDS.get(ctype.split("/")[0], "file")
        data.update(url=_url(str(att.get("url") or "")), filename=str(att.get("filename") or ""))
        break
    return Message(
        account=account_name,
        sender=sender,
        kind=kind,
        external_id=msg_id,
        sent_at=_time(d.get("timestamp")),
        text=text,
        chat=chat,
        data=data,
    )
