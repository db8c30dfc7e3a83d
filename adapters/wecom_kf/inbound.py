"""WeCom 微信客服 inbound. Pure functions: the callback (encrypted exactly as a WeCom app's, ReceiveId =
corp_id) only says "pull now"; the messages come from sync_msg as JSON items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.wecom.inbound import read_callback, verify_url
from adapters.xml import parse_xml, text_field
from bot.model import Event, Message

__all__ = ["verify_url", "read_callback", "KfEvent", "read_event", "to_message", "system_event", "CUSTOMER", "EVENT"]

CUSTOMER, EVENT, SERVICER = 3, 4, 5  # sync_msg `origin`


@dataclass(frozen=True, slots=True)
class KfEvent:
    """A decrypted callback: `kf_msg_or_event` with its pull token, or some other event (ignored)."""

    event: str
    token: str
    open_kfid: str


def read_event(plain_xml: str) -> KfEvent:
    root = parse_xml(plain_xml)
    return KfEvent(
        event=text_field(root, "Event").lower(),
        token=text_field(root, "Token"),
        open_kfid=text_field(root, "OpenKfId"),
    )


def _content(item: dict[str, Any], key: str) -> dict[str, Any]:
    value = item.get(key)
    return value if isinstance(value, dict) else {}


def system_event(item: dict[str, Any]) -> tuple[str, str, str] | None:
    """(event_type, external_userid, welcome_code) of a system event item (origin 4), else None."""
    if int(item.get("origin") or 0) != EVENT or item.get("msgtype") != "event":
        return None
    ev = _content(item, "event")
    user = str(ev.get("external_userid") or item.get("external_userid") or "")
    return str(ev.get("event_type") or ""), user, str(ev.get("welcome_code") or "")


def to_message(account_name: str, item: dict[str, Any]) -> Message | None:
    """One sync_msg item as a Message: customers' messages and their enter_session; None for the rest
    (servicers' own messages, other system events)."""
    origin = int(item.get("origin") or 0)
    msgtype = str(item.get("msgtype") or "")
    msgid = str(item.get("msgid") or "")
    sent_at = float(item.get("send_time") or 0)
    if origin == EVENT and msgtype == "event":
        ev = _content(item, "event")
        user = str(ev.get("external_userid") or item.get("external_userid") or "")
        if ev.get("event_type") != "enter_session" or not user or not msgid:
            return None
        return Message(
            account=account_name,
            sender=user,
            kind="event",
            event=Event.SESSION_ENTERED,
            external_id=msgid,
            sent_at=sent_at,
            data={"scene": str(ev.get("scene") or ""), "scene_param": str(ev.get("scene_param") or "")},
        )
    user = str(item.get("external_userid") or "")
    if origin != CUSTOMER or not user or not msgid:
        return None
    msg = Message(account=account_name, sender=user, kind="unknown", external_id=msgid, sent_at=sent_at)
    body = _content(item, msgtype)
    if msgtype == "text":
        msg.kind, msg.text = "text", str(body.get("content") or "")
        if body.get("menu_id"):
            msg.data = {"menu_id": str(body["menu_id"])}
    elif msgtype in ("image", "voice", "video", "file"):
        msg.kind = msgtype  # type: ignore[assignment]
        msg.data = {"media_id": str(body.get("media_id") or "")}
    elif msgtype == "location":
        msg.kind = "location"
        label = " ".join(str(body.get(k) or "") for k in ("name", "address")).strip()
        msg.data = {"latitude": body.get("latitude"), "longitude": body.get("longitude"), "label": label}
    elif msgtype == "link":
        msg.kind = "link"
        msg.data = {
            "title": str(body.get("title") or ""),
            "description": str(body.get("desc") or ""),
            "url": str(body.get("url") or ""),
            "pic_url": str(body.get("pic_url") or ""),
        }
    else:  # miniprogram, business_card, channels, ...: logged, shown as unknown
        msg.data = {"msgtype": msgtype}
    return msg
