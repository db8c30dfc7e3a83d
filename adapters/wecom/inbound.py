"""WeCom self-built app inbound: encrypted URL verification and callbacks. Functions of the request
and the real clock (freshness), no other state."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Protocol

from wechatpy.exceptions import InvalidSignatureException
from wechatpy.work import parse_message
from wechatpy.work.crypto import WeChatCrypto
from wechatpy.work.exceptions import InvalidCorpIdException

from adapters.xml import encrypted_field, int_field, parse_xml, text_field
from bot.errors import BadRequest, SignatureError
from bot.model import Event, Message

__all__ = ["Callbacks", "verify_url", "read_callback", "to_message"]

_SECONDS = re.compile(r"[0-9]{1,12}")  # a unix time in seconds, bounded so it converts to a float


class Callbacks(Protocol):
    """What the callback crypto reads of an account: a WeCom app's, or a 微信客服 account's."""

    @property
    def token(self) -> str: ...
    @property
    def encoding_aes_key(self) -> str: ...
    @property
    def corp_id(self) -> str: ...
    @property
    def max_clock_skew(self) -> float: ...


def _need(query: Mapping[str, str], *names: str) -> list[str]:
    missing = [n for n in names if not query.get(n)]
    if missing:
        raise BadRequest(f"missing query parameter(s): {', '.join(missing)}")
    return [query[n] for n in names]


def _crypto(account: Callbacks) -> WeChatCrypto:
    return WeChatCrypto(account.token, account.encoding_aes_key, account.corp_id)


def verify_url(account: Callbacks, query: Mapping[str, str]) -> str:
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


def read_callback(account: Callbacks, query: Mapping[str, str], body: bytes) -> str:
    """POST (a WeCom app's or 微信客服's callback): the decrypted plaintext XML, once the timestamp is
    fresh and msg_signature matches the <Encrypt> field; nothing else of the body is read before."""
    sig, ts, nonce = _need(query, "msg_signature", "timestamp", "nonce")
    _fresh(account, ts)
    encrypt = encrypted_field(body)
    try:  # wechatpy checks msg_signature over (token, timestamp, nonce, Encrypt) before decrypting
        return _crypto(account).decrypt_message({"Encrypt": encrypt}, sig, ts, nonce)
    except InvalidSignatureException:
        raise SignatureError("msg_signature does not match the encrypted body") from None
    except InvalidCorpIdException:
        raise SignatureError("the encrypted body is for another corp_id") from None
    except Exception as e:
        raise BadRequest(f"cannot decrypt the body: {type(e).__name__}") from None


def _fresh(account: Callbacks, ts: str) -> None:
    """A signed callback replayed later is refused: the platform's clock (time.time()), not the desk's."""
    if not _SECONDS.fullmatch(ts):  # not str.isdigit(): "²" is a digit int() refuses
        raise SignatureError(f"the timestamp {ts[:20]!r} is not a number of seconds")
    off = abs(time.time() - int(ts))
    if off > account.max_clock_skew:
        raise SignatureError(
            f"the timestamp is {off:.0f} s from now, more than max_clock_skew {account.max_clock_skew:.0f} s "
            "(stale or replayed)"
        )


# a WeCom app's events (`Event`, lower-cased) the desk has a rule for; the rest (enter_agent, location,
# view, scancode_push, ...) are Event.OTHER
_EVENTS = {"subscribe": Event.FOLLOW, "unsubscribe": Event.UNFOLLOW, "click": Event.MENU_CLICK}


def to_message(account_name: str, plain_xml: str) -> Message:
    raw = parse_xml(plain_xml)  # bounded, and refuses DTDs, entities and malformed XML
    try:
        parse_message(plain_xml)  # wechatpy must know it as a WeCom message too
    except Exception as e:
        raise BadRequest(f"not a WeCom message: {type(e).__name__}: {e}") from None
    sender, msg_type = text_field(raw, "FromUserName"), text_field(raw, "MsgType").lower()
    if not sender or not msg_type:
        raise BadRequest("the message has no FromUserName or MsgType")
    created = int_field(raw, "CreateTime")
    kind = msg_type if msg_type in {"text", "image", "voice", "video", "location", "link", "event"} else "unknown"
    msg = Message(
        account=account_name,
        sender=sender,
        kind=kind,  # type: ignore[arg-type]
        external_id=text_field(raw, "MsgId") or f"{sender}:{created}:{text_field(raw, 'Event')}",
        sent_at=float(created),
    )
    if kind == "text":
        msg.text = text_field(raw, "Content")
    elif kind == "image":
        msg.data = {"media_id": text_field(raw, "MediaId"), "url": text_field(raw, "PicUrl")}
    elif kind in ("voice", "video"):
        msg.data = {"media_id": text_field(raw, "MediaId")}
    elif kind == "event":
        name = text_field(raw, "Event").lower()
        msg.event = _EVENTS.get(name, Event.OTHER)
        msg.data = {"key": text_field(raw, "EventKey")}
        if msg.event == Event.OTHER:
            msg.data["platform_event"] = name
    return msg
