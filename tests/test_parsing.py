"""Callback XML read safely: bad and hostile bodies are refused naming why, and the reader agrees with
xmltodict. The payload tables of every platform are checked in tests/test_payloads.py."""

from __future__ import annotations

import pytest
import xmltodict
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.wechat.inbound import to_message as wechat_message
from adapters.wecom.inbound import to_message as wecom_message
from adapters.xml import MAX_DEPTH, encrypted_field, parse_xml
from bot.errors import BadRequest

PARSERS = {"wechat": wechat_message, "wecom": wecom_message}


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


def _nested(levels: int) -> bytes:
    return b"<xml>" + b"<a>" * (levels - 1) + b"x" + b"</a>" * (levels - 1) + b"</xml>"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_nested(MAX_DEPTH + 1), f"nested deeper than {MAX_DEPTH} levels"),
        (_nested(200_000), f"nested deeper than {MAX_DEPTH} levels"),
        (b'<?xml version="1.0" encoding="x-nope"?><xml/>', "declares encoding 'x-nope'; only UTF-8"),
        (b"<?xml version='1.0' encoding='gbk'?><xml/>", "declares encoding 'gbk'; only UTF-8"),
        ("<xml><A>1</A></xml>".encode("utf-16"), "not UTF-8"),
        (b"<xml><A>\xff</A></xml>", "not UTF-8"),
        (b'<!DOCTYPE x [<!ENTITY a "a">]><xml>&a;</xml>', "DTD"),
        (b"<xml><A><![CDATA[x</A></xml>", "malformed XML"),
        (b"<xml>\x00</xml>", "malformed XML"),
        (b"", "malformed XML"),
    ],
    ids=["9 levels", "200k levels", "unknown encoding", "gbk", "utf-16", "bad utf-8", "dtd", "cdata", "nul", "empty"],
)
def test_hostile_xml_is_a_bad_request_naming_why(body: bytes, reason: str):
    with pytest.raises(BadRequest, match=reason):
        parse_xml(body)


def test_a_bom_a_utf8_declaration_and_eight_levels_are_taken():
    body = b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>' + _nested(MAX_DEPTH)
    assert parse_xml(body) == {"a": {"a": {"a": {"a": {"a": {"a": {"a": "x"}}}}}}}


@pytest.mark.parametrize(
    ("body", "want"),
    [
        (b"<xml><ToUserName><![CDATA[ww]]></ToUserName><Encrypt><![CDATA[QUJD+/==]]></Encrypt></xml>", "QUJD+/=="),
        (b"<xml><Encrypt>\n QUJD \n</Encrypt></xml>", "QUJD"),
        (b"<xml><Content><![CDATA[<Encrypt>WFla</Encrypt>]]></Content><Encrypt>QUJD</Encrypt></xml>", "QUJD"),
        (b"<xml><!-- <Encrypt>WFla</Encrypt> --><Encrypt>QUJD</Encrypt></xml>", "QUJD"),
    ],
    ids=["cdata", "spaces", "a customer's text", "a comment"],
)
def test_the_encrypt_field_is_read_without_parsing_the_body(body: bytes, want: str):
    assert encrypted_field(body) == want


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<xml><ToUserName>ww</ToUserName></xml>", "no <Encrypt>"),
        (b"<xml><Encrypt>QUJD</Encrypt><Encrypt>QUJD</Encrypt></xml>", "more than one"),
        (b"<xml><A><![CDATA[" + b"<" * 100_000, "unterminated CDATA"),
        (b"<xml><Encrypt>QUJD", "unterminated <Encrypt>"),
        (b"<xml><Encrypt>QU JD</Encrypt></xml>", "not base64"),
        (b"<xml><Encrypt><![CDATA[%%]]></Encrypt></xml>", "not base64"),
        (b"<!---->" * 150_000 + b"<Encrypt>QUJD</Encrypt>", "more than 1000 CDATA sections or comments"),
    ],
)
def test_a_missing_or_odd_encrypt_field_is_a_bad_request(body: bytes, reason: str):
    with pytest.raises(BadRequest, match=reason):
        encrypted_field(body)
