"""A table of raw platform payloads, each with the normalized fields it must give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.wechat.inbound import to_message as wechat_message
from adapters.wecom.inbound import to_message as wecom_message
from bot.errors import BadRequest

FIXTURES = Path(__file__).parent / "fixtures"
PARSERS = {"wechat": wechat_message, "wecom": wecom_message}
CASES = [
    pytest.param(platform, case, id=f"{platform}: {case['name']}")
    for platform in PARSERS
    for case in json.loads((FIXTURES / platform / "messages.json").read_text(encoding="utf-8"))
]


@pytest.mark.parametrize(("platform", "case"), CASES)
def test_payload_is_normalized(platform: str, case: dict):
    msg = PARSERS[platform]("acct", case["xml"])
    assert msg.account == "acct"
    assert msg.sent_at == 1763800000
    for field, want in case["expect"].items():
        got = getattr(msg, field)
        if isinstance(want, dict):
            assert {k: got.get(k) for k in want} == want, field
        else:
            assert got == want, field


@pytest.mark.parametrize(
    "body",
    [
        "<xml><MsgType>text</MsgType></xml>",  # no sender
        "<xml><FromUserName>o</FromUserName></xml>",  # no type
        "<?xml version='1.0'?><!DOCTYPE lol [<!ENTITY a 'a'>]><xml>&a;</xml>",
        "<xml><unclosed></xml>",
    ],
)
@pytest.mark.parametrize("platform", list(PARSERS))
def test_bad_payload_is_a_bad_request(platform: str, body: str):
    with pytest.raises(BadRequest):
        PARSERS[platform]("acct", body)
