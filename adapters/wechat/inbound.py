"""WeChat Official Account inbound: verify, decrypt, parse. Pure functions of the request."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import MESSAGE_TYPES
from wechatpy.utils import check_signature

from adapters.wechat.config import WeChatAccount
from adapters.xml import encrypted_field, int_field, parse_xml, text_field
from bot.errors import BadRequest, SignatureError
from bot.model import Event, Message

__all__ = ["verify_url", "read_callback", "to_message"]


def _need(query: Mapping[str, str], *names: str) -> list[str]:
    missing = [n for n in names if not query.get(n)]
    if missing:
        raise BadRequest(f"missing query parameter(s): {', '.join(missing)}")
    return [query[n] for n in names]


def _check(account: WeChatAccount, query: Mapping[str, str]) -> None:
    signature, timestamp, nonce = _need(query, "signature", "timestamp", "nonce")
    try:
        check_signature(account.token, signature, timestamp, nonce)
    except InvalidSignatureException:
        raise SignatureError("signature does not match the account's token") from None


def verify_url(account: WeChatAccount, query: Mapping[str, str]) -> str:
    """GET URL verification: the echostr back, verbatim (plaintext even in safe mode)."""
    _check(account, query)
    (echostr,) = _need(query, "echostr")
    return echostr


def read_callback(account: WeChatAccount, query: Mapping[str, str], body: bytes) -> str:
    """The callback's plaintext XML, whatever the mode; every signature checked before the body
    is parsed (plaintext mode: `signature` covers no body, so it is checked first; compatible
    and safe modes: `msg_signature` covers the <Encrypt> field, the only part read before it)."""
    _check(account, query)
    encrypted = query.get("encrypt_type", "raw") == "aes"
    if not account.encoding_aes_key:
        if encrypted:
            raise BadRequest("encrypted callback, but the account has no encoding_aes_key")
        return body.decode("utf-8", errors="replace")
    if not encrypted:
        # with a key configured, a plaintext body is unsigned: refuse rather than trust it
        raise BadRequest("plaintext callback, but the account is configured for encryption")
    (msg_signature,) = _need(query, "msg_signature")
    encrypt = encrypted_field(body)
    crypto = WeChatCrypto(account.token, account.encoding_aes_key, account.app_id)
    try:  # wechatpy checks msg_signature over (token, timestamp, nonce, Encrypt) before decrypting
        return crypto.decrypt_message({"Encrypt": encrypt}, msg_signature, query["timestamp"], query["nonce"])
    except InvalidSignatureException:
        raise SignatureError("msg_signature does not match the encrypted body") from None
    except InvalidAppIdException:
        raise SignatureError("the encrypted body is for another app_id") from None
    except Exception as e:  # bad base64, bad padding, bad key
        raise BadRequest(f"cannot decrypt the body: {type(e).__name__}") from None


_KINDS = {"text", "image", "voice", "video", "shortvideo", "location", "link", "event"}
# the Official Account's events (`Event`, lower-cased) the desk has a rule for; the rest are Event.OTHER
_EVENTS = {"subscribe": Event.FOLLOW, "unsubscribe": Event.UNFOLLOW, "scan": Event.SCAN, "click": Event.MENU_CLICK}


def to_message(account_name: str, plain_xml: str) -> Message:
    """The normalized message for one callback: the XML parsed once (safely), the message
    types as wechatpy knows them."""
    raw = parse_xml(plain_xml)  # bounded, and refuses DTDs, entities and malformed XML
    source, msg_type = text_field(raw, "FromUserName"), text_field(raw, "MsgType").lower()
    if not source or not msg_type:
        raise BadRequest("the message has no FromUserName or MsgType")
    kind = "video" if msg_type == "shortvideo" else msg_type
    if kind not in _KINDS or (msg_type != "event" and msg_type not in MESSAGE_TYPES):
        kind = "unknown"
    created = int_field(raw, "CreateTime")
    msg = Message(
        account=account_name,
        sender=source,
        kind=kind,  # type: ignore[arg-type]
        external_id=text_field(raw, "MsgId") or f"{source}:{created}:{text_field(raw, 'Event')}",
        sent_at=float(created),
    )
    text = partial(text_field, raw)
    if kind == "text":
        msg.text = text("Content")
    elif kind == "image":
        msg.data = {"media_id": text("MediaId"), "url": text("PicUrl")}
    elif kind == "voice":
        msg.text = text("Recognition")
        msg.data = {"media_id": text("MediaId"), "format": text("Format")}
    elif kind == "video":
        msg.data = {"media_id": text("MediaId"), "thumb_media_id": text("ThumbMediaId")}
    elif kind == "location":
        msg.data = {"lat": text("Location_X") or None, "lng": text("Location_Y") or None, "label": text("Label")}
    elif kind == "link":
        msg.data = {"title": text("Title"), "url": text("Url")}
        msg.text = text("Title")
    elif kind == "event":
        name, key = text("Event").lower(), text("EventKey")
        if name == "subscribe" and key.startswith("qrscene_"):  # followed by scanning a code: the scene
            key = key[len("qrscene_") :]
        msg.event = _EVENTS.get(name, Event.OTHER)
        msg.data = {"key": key}
        if msg.event == Event.OTHER:
            msg.data["platform_event"] = name
    return msg
