"""A table of raw platform payloads, each with the normalized fields it must give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import xmltodict
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.wechat.inbound import to_message as wechat_message
from adapters.wecom.inbound import to_message as wecom_message
from adapters.xml import parse_xml
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


_names = st.sampled_from(["ToUserName", "FromUserName", "MsgType", "Content", "Event", "Item", "A"])
_texts = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(" \n\t"), max_size=12)
_elements = st.recursive(
    st.tuples(_names, _texts).map(lambda t: f"<{t[0]}><![CDATA[{t[1].replace(']]>', '')}]]></{t[0]}>"),
    lambda inner: st.tuples(_names, st.lists(inner, max_size=4)).map(lambda t: f"<{t[0]}>{''.join(t[1])}</{t[0]}>"),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_elements, min_size=1, max_size=6))
def test_callback_xml_reads_as_xmltodict_reads_it(children: list[str]):
    """kefu reads callbacks with the C parser; what it gets is what xmltodict (which wechatpy uses) gets."""
    body = f"<xml>{''.join(children)}</xml>"
    assert parse_xml(body) == xmltodict.parse(body, disable_entities=True)["xml"]
