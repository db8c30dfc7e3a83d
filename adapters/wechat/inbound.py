"""WeChat Official Account inbound: verify, decrypt, parse. Pure functions of the request."""

from __future__ import annotations

from collections.abc import Mapping

from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import MESSAGE_TYPES
from wechatpy.utils import check_signature

from adapters.xml import int_field, parse_xml
from bot.config import WeChatAccount
from bot.errors import BadRequest, SignatureError
from bot.model import Message

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
    """The callback's plaintext XML, whatever the mode; every signature checked."""
    _check(account, query)
    root = parse_xml(body)
    if query.get("encrypt_type", "raw") == "aes" or ("Encrypt" in root and "MsgType" not in root):
        if not account.encoding_aes_key:
            raise BadRequest("encrypted callback, but the account has no encoding_aes_key")
        (msg_signature,) = _need(query, "msg_signature")
        if "Encrypt" not in root:
            raise BadRequest("encrypt_type=aes but the body has no <Encrypt>")
        crypto = WeChatCrypto(account.token, account.encoding_aes_key, account.app_id)
        try:
            return crypto.decrypt_message(root, msg_signature, query["timestamp"], query["nonce"])
        except InvalidSignatureException:
            raise SignatureError("msg_signature does not match the encrypted body") from None
        except InvalidAppIdException:
            raise SignatureError("the encrypted body is for another app_id") from None
        except Exception as e:  # bad base64, bad padding, bad key
            raise BadRequest(f"cannot decrypt the body: {type(e).__name__}") from None
    if account.encoding_aes_key:
        # with a key configured, a plaintext body is unsigned: refuse rather than trust it
        raise BadRequest("plaintext callback, but the account is configured for encryption")
    return body.decode("utf-8", errors="replace")


_KINDS = {"text", "image", "voice", "video", "shortvideo", "location", "link", "event"}


def to_message(account_name: str, plain_xml: str) -> Message:
    """The normalized message for one callback: the XML parsed once (safely), the message
    types as wechatpy knows them."""
    raw = parse_xml(plain_xml)  # refuses DTDs, entities and malformed XML
    source = raw.get("FromUserName")
    if not isinstance(source, str) or not source or not isinstance(raw.get("MsgType"), str):
        raise BadRequest("the message has no FromUserName or MsgType")
    msg_type = str(raw["MsgType"]).lower()
    kind = "video" if msg_type == "shortvideo" else msg_type
    if kind not in _KINDS or (msg_type != "event" and msg_type not in MESSAGE_TYPES):
        kind = "unknown"
    created = int_field(raw, "CreateTime")
    msg = Message(
        account=account_name,
        sender=source,
        kind=kind,  # type: ignore[arg-type]
        external_id=str(raw.get("MsgId") or f"{source}:{created}:{raw.get('Event', '')}"),
        sent_at=float(created),
    )
    if kind == "text":
        msg.text = str(raw.get("Content") or "")
    elif kind == "image":
        msg.data = {"media_id": raw.get("MediaId", ""), "url": raw.get("PicUrl", "")}
    elif kind == "voice":
        msg.text = str(raw.get("Recognition") or "")
        msg.data = {"media_id": raw.get("MediaId", ""), "format": raw.get("Format", "")}
    elif kind == "video":
        msg.data = {"media_id": raw.get("MediaId", ""), "thumb_media_id": raw.get("ThumbMediaId", "")}
    elif kind == "location":
        msg.data = {"lat": raw.get("Location_X"), "lng": raw.get("Location_Y"), "label": raw.get("Label", "")}
    elif kind == "link":
        msg.data = {"title": raw.get("Title", ""), "url": raw.get("Url", "")}
        msg.text = str(raw.get("Title") or "")
    elif kind == "event":
        msg.event = str(raw.get("Event") or "").lower()
        key = str(raw.get("EventKey") or "")
        if msg.event == "subscribe" and key.startswith("qrscene_"):  # followed by scanning a code
            msg.event, key = "subscribe_scan", key[len("qrscene_") :]
        msg.data = {"key": key}
    return msg
