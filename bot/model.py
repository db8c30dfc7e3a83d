"""The normalized shapes every platform is turned into. No platform words in field names."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Literal

__all__ = ["Kind", "Event", "Message", "Delivery", "Conversation", "TICKET_BASE", "new_id"]

# text, image, voice, video, location, link are content; event carries `event`.
Kind = Literal["text", "image", "voice", "video", "location", "link", "file", "event", "unknown"]


class Event(StrEnum):
    """What an event means to the desk, whatever the platform calls it: each adapter maps its own."""

    FOLLOW = "follow"  # followed the account, by searching it or by scanning a code (data.key: the scene)
    UNFOLLOW = "unfollow"  # left: nothing reaches them any more
    SCAN = "scan"  # a follower scanned one of the account's codes (data.key: the scene)
    MENU_CLICK = "menu_click"  # clicked a menu entry (data.key: the entry's key)
    SESSION_ENTERED = "session_entered"  # opened the chat window, before writing (data.scene: where from)
    OTHER = "other"  # one kefu has no rule for; data.platform_event keeps the platform's own name


# Tickets are short and human: conversation row id + this base (#1001, #1002, ...).
TICKET_BASE = 1000


def new_id() -> str:
    """128 random bits as 32 hex digits (a uuid4's length; building the UUID object costs 4x more)."""
    return os.urandom(16).hex()


@dataclass(slots=True)
class Message:
    """One inbound message or event, from a customer or an agent, on one configured account.

    `sender` and `chat` are opaque ids of the platform; `external_id` is the platform's
    own id of this message (or a stand-in for events), the key platform retries are
    dropped by.
    """

    account: str
    sender: str
    kind: Kind
    external_id: str
    sent_at: float
    text: str = ""
    event: str = ""  # an Event when kind == "event" (a plain str once it has crossed the bus)
    sender_name: str = ""
    chat: str = ""  # group the message was written in, if any
    reply_to: str = ""  # external id of the message this one quotes, if any
    data: dict[str, Any] = field(default_factory=dict)  # kind-specific: media id, url, coordinates
    id: str = field(default_factory=new_id)
    received_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict, for the bus (JSON); `data` is shared, not copied."""
        return {name: getattr(self, name) for name in _MESSAGE_FIELDS}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Message:
        return cls(**d)

    def summary(self) -> str:
        """What a person reads for this message: its text, or a bracketed label."""
        if self.kind == "text":
            return self.text
        label = {
            "image": "[图片]",
            "voice": "[语音]",
            "video": "[视频]",
            "location": "[位置]",
            "link": "[链接]",
            "file": "[文件]",
            "event": f"[事件 {self.data.get('platform_event') or self.event}]",
        }.get(self.kind, "[未知消息]")
        extra = self.text or self.data.get("url") or self.data.get("label") or self.data.get("title") or ""
        return f"{label} {extra}".strip()


@dataclass(slots=True)
class Delivery:
    """One outbound message to one recipient on one account; its id is its idempotency key."""

    account: str
    to: str
    text: str = ""
    kind: Literal["text", "image"] = "text"
    media: str = ""  # platform media id for images and voices
    media_from: str = ""  # account the media id belongs to, when it is not `account`
    conversation_id: int | None = None
    purpose: str = "reply"  # greeting, relay, reply, notice, receipt
    chat: bool = False  # `to` is a platform group chat id (a desk group) rather than a user
    group: str = ""  # a configured group (config.groups) to notify; `to` is its name then
    agent: str = ""  # the configured agent who wrote it: told if it fails
    receipt: bool = False  # also tell that agent which ticket it reached
    id: str = field(default_factory=new_id)
    attempt: int = 0
    resend: bool = False  # the platform may already have it: use its duplicate check where it has one

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict, for the bus (JSON)."""
        return {name: getattr(self, name) for name in _DELIVERY_FIELDS}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Delivery:
        return cls(**d)


_MESSAGE_FIELDS = tuple(f.name for f in fields(Message))
_DELIVERY_FIELDS = tuple(f.name for f in fields(Delivery))


@dataclass(slots=True)
class Conversation:
    """One customer on one customer-side account, from first contact to close."""

    id: int
    account: str
    customer: str
    customer_name: str
    status: Literal["open", "closed"]
    created_at: float
    last_message_at: float
    agent: str = ""  # configured agent name currently serving, if any
    queued_at: float | None = None  # waiting for an agent since (留言 / queue), None once assigned
    waiting_since: float | None = None  # the customer's oldest unanswered message, None once answered
    first_reply_at: float | None = None  # an agent's first answer
    last_agent_at: float | None = None  # an agent's latest answer
    told_position: int | None = None  # the queue position the customer was last told
    auto_replied_at: float | None = None  # the last off-hours / no-agent auto-reply
    category: str = ""  # routing categories, comma-separated (complaint,suggestion)
    survey_sent_at: float | None = None
    rating: int | None = None  # 1-5
    rating_text: str | None = None  # the answer as given; "" when they did not rate
    unreachable: str = ""  # why the platform takes no messages for them now (48 h passed, quota used)
    opened_by: str = ""  # the id of the message that opened it

    @property
    def ticket(self) -> int:
        return self.id + TICKET_BASE
