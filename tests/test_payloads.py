"""Every platform's raw payloads, each with the normalized Message it must parse into: one table per
platform under tests/fixtures/<platform>/, checked by one loop (adapter-onebot's events.json habit).

A case is {name, note?, payload, expect}. `expect` names only the fields that matter; in a dict value
only the keys named are compared, and None means the key must be absent; "summary" is what a person
reads (Message.summary()). `expect: null` means the payload is acknowledged and ignored (None).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.dingtalk import inbound as dingtalk
from adapters.qq.official import inbound as qq_official
from adapters.qq.onebot import inbound as qq_onebot
from adapters.wechat import inbound as wechat
from adapters.wecom import inbound as wecom
from adapters.wecom_kf import inbound as wecom_kf
from bot.model import Event, Message

ACCOUNT = "acct"
SENT_AT = 1763800000  # every table's payloads are dated 2025-11-22 16:26:40 +08:00

# platform -> its inbound parser, from the raw payload as the table holds it (XML text or a JSON object)
PARSE: dict[str, Callable[[Any], Message | None]] = {
    "wechat": lambda raw: wechat.to_message(ACCOUNT, raw),
    "wecom": lambda raw: wecom.to_message(ACCOUNT, raw),
    "wecom_kf": lambda raw: wecom_kf.to_message(ACCOUNT, raw),  # one sync_msg item
    "dingtalk": lambda raw: dingtalk.to_message(ACCOUNT, json.dumps(raw, ensure_ascii=False).encode()),
    "qq/onebot": lambda raw: qq_onebot.to_message(ACCOUNT, raw) if qq_onebot.is_message(raw) else None,
    "qq/official": lambda raw: qq_official.to_message(ACCOUNT, raw),
}

FIXTURES = Path(__file__).parent / "fixtures"


def _platform(table: Path) -> str:
    """wechat/messages.json -> wechat; qq/onebot_messages.json -> qq/onebot."""
    folder, stem = table.parent.name, table.stem.removesuffix("messages").rstrip("_")
    return f"{folder}/{stem}" if stem else folder


TABLES = {_platform(t): t for t in sorted(FIXTURES.glob("*/*messages.json"))}
CASES = [
    pytest.param(platform, case, id=f"{platform}/{case['name']}")
    for platform, table in TABLES.items()
    for case in json.loads(table.read_text(encoding="utf-8"))
]


@pytest.mark.parametrize(("platform", "case"), CASES)
def test_payload_is_normalized(platform: str, case: dict[str, Any]):
    msg = PARSE[platform](case["payload"])
    if case["expect"] is None:
        assert msg is None, f"ignored, yet parsed as {msg!r}"
        return
    assert msg is not None
    assert msg.account == ACCOUNT and msg.sent_at == SENT_AT
    for name, want in case["expect"].items():
        got = msg.summary() if name == "summary" else getattr(msg, name)
        if isinstance(want, dict):
            assert {k: got.get(k) for k in want} == want, f"{name}: {got!r}"
        else:
            assert got == want, f"{name}: {got!r}"


def test_every_platform_has_a_table_and_a_parser():
    assert set(TABLES) == set(PARSE)


def test_every_event_kind_is_made_from_some_payload():
    made = {c.values[1]["expect"].get("event") for c in CASES if c.values[1]["expect"]}
    assert set(Event) <= made, f"no payload gives {set(Event) - made}"


def test_case_names_are_unique_per_platform():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
