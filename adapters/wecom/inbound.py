"""WeCom self-built app inbound: encrypted URL verification and callbacks. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wechatpy.exceptions import InvalidSignatureException
from wechatpy.work import parse_message
from wechatpy.work.crypto import WeChatCrypto
from wechatpy.work.exceptions import InvalidCorpIdException

from adapters.xml import int_field, parse_xml
from bot.config import WeComAccount
from bot.errors import BadRequest, SignatureError
from bot.model import Message

__all__ = ["verify_url", "read_callback", "to_message"]


def _need(query: Mapping[str, str], *names: str) -> list[str]:
    missing = [n for n in names if not query.get(n)]
    if missing:
        raise BadRequest(f"missing query parameter(s): {', '.join(missing)}")
    return [query[n] for n in names]


def _crypto(account: WeComAccount) -> WeChatCrypto:
    return WeChatCrypto(account.token, account.encoding_aes_key, account.corp_id)


def verify_url(account: WeComAccount, query: Mapping[str, str]) -> str:
    """GET: check msg_signature over the encrypted echostr and answer its plaintext."""
    sig, ts, nonce, echostr = _need(query, "msg_signature", "timestamp", "nonce", "echostr")
    try:
        return _crypto(account).check_signature(sig, ts, nonce, echostr)
    except InvalidSignatureException:
        raise SignatureError("msg_signature does not match the echostr") from None
    except InvalidCorpIdException:
        raise SignatureError("the echostr is for another corp_id") from None
    except Exception as e:
        raise BadRequest(f"cannot decrypt the echostr: {type(e).__name__}") from None


def read_callback(account: WeComAccount, query: Mapping[str, str], body: bytes) -> str:
    sig, ts, nonce = _need(query, "msg_signature", "timestamp", "nonce")
    root = parse_xml(body)
    if "Encrypt" not in root:
        raise BadRequest("the body has no <Encrypt>")
    try:
        return _crypto(account).decrypt_message(root, sig, ts, nonce)
    except InvalidSignatureException:
        raise SignatureError("msg_signature does not match the encrypted body") from None
    except InvalidCorpIdException:
        raise SignatureError("the encrypted body is for another corp_id") from None
    except Exception as e:
        raise BadRequest(f"cannot decrypt the body: {type(e).__name__}") from None


def to_message(account_name: str, plain_xml: str) -> Message:
    parse_xml(plain_xml)
    try:
        m = parse_message(plain_xml)
    except Exception as e:
        raise BadRequest(f"not a WeCom message: {type(e).__name__}: {e}") from None
    raw: dict[str, Any] = m._data
    if not m.source or not raw.get("MsgType"):
        raise BadRequest("the message has no FromUserName or MsgType")
    msg_type = str(raw["MsgType"]).lower()
    created = int_field(raw, "CreateTime")
    kind = msg_type if msg_type in {"text", "image", "voice", "video", "location", "link", "event"} else "unknown"
    msg = Message(
        account=account_name,
        sender=m.source,
        kind=kind,  # type: ignore[arg-type]
        external_id=str(raw.get("MsgId") or f"{m.source}:{created}:{raw.get('Event', '')}"),
        sent_at=float(created),
    )
    if kind == "text":
        msg.text = str(raw.get("Content") or "")
    elif kind == "image":
        msg.data = {"media_id": raw.get("MediaId", ""), "url": raw.get("PicUrl", "")}
    elif kind in ("voice", "video"):
        msg.data = {"media_id": raw.get("MediaId", "")}
    elif kind == "event":
        msg.event = str(raw.get("Event") or "").lower()
        msg.data = {"key": raw.get("EventKey") or ""}
    return msg
