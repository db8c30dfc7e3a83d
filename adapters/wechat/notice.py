"""The reply-window notice of a WeChat Official Account: a template or subscription message.

Customer-service messages stop 48 hours after the customer last wrote (45015); template messages
(模板消息) and subscription notices (订阅通知) are not bound by that window, so one of them tells the
customer an answer is waiting. Its fields are filled from the conversation.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator

from bot.config_types import Strict

__all__ = ["WindowNotice", "FIELDS", "fill"]

# what a field's text may name, filled from the conversation and the held reply
FIELDS = ("ticket", "customer", "agent", "time", "reply")


class WindowNotice(Strict):
    kind: Literal["template", "subscribe"]  # 模板消息 (message/template/send) or 订阅通知 (subscribe/bizsend)
    template_id: str = Field(min_length=1)
    url: str = ""  # template: the page a tap opens
    page: str = ""  # subscribe: the page a tap opens
    # the template's keys and their text: {"first": "您的留言已有回复,回复任意内容查看", "keyword1": "#{ticket}"}
    data: dict[str, str] = Field(min_length=1)
    reply_chars: int = Field(default=20, ge=1, le=200)  # {reply}: this many first characters of the reply

    @field_validator("data")
    @classmethod
    def _placeholders(cls, v: dict[str, str]) -> dict[str, str]:
        for key, text in v.items():
            try:
                names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
            except ValueError as e:
                raise ValueError(f"{key}: {e} (write {{{{ and }}}} for a literal brace)") from None
            unknown = [n for n in names if n not in FIELDS]
            if unknown:
                raise ValueError(f"{key}: unknown placeholder {{{unknown[0]}}}; known: {', '.join(FIELDS)}")
        return v


def fill(notice: WindowNotice, values: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The API's `data`: each key's text with the placeholders filled in."""
    known = {name: str(values.get(name, "")) for name in FIELDS}
    known["reply"] = known["reply"][: notice.reply_chars]
    return {key: {"value": text.format(**known)} for key, text in notice.data.items()}
