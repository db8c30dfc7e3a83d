"""Hostile XML on the WeChat-family webhooks gets a 4xx naming what was wrong, never a 500: the
signature is checked before anything but the <Encrypt> field is read, and what is parsed is parsed
within bounds. Callbacks are signed and encrypted with wechatpy's own crypto."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import pytest
from loguru import logger

from adapters.sandbox import Sandbox
from adapters.wechat.emulator import WeChatPusher, new_aes_key
from adapters.wecom.emulator import WeComPusher
from adapters.wecom_kf.emulator import WeComKfEmulator, WeComKfPusher

CORP, KF_SECRET, KFID, KF_TOKEN = "ww0123456789abcdef", "kf-secret-0001", "wkHostile01234567", "kftoken-hostile"
SIGNED_ROUTES = ["wechat plaintext", "wechat safe", "wechat compatible", "wecom", "wecom_kf"]


def deep(levels: int) -> str:
    return "<xml>" + "<a>" * levels + "x" + "</a>" * levels + "</xml>"


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="WARNING")
    yield lines
    logger.remove(sink)


class FamilySandbox(Sandbox):
    """Every WeChat-family route: the Official Account in safe mode ("mp") and in plaintext mode
    ("mpplain"), the WeCom app ("desk") and 微信客服 ("kf"), each with the platform's pusher."""

    kf_key: str

    @property
    def pushers(self) -> dict[str, WeChatPusher | WeComPusher]:
        base = self.base_url
        return {
            "wechat plaintext": WeChatPusher(f"{base}/wechat/mpplain", "plaintoken", "wx-plain-0001"),
            "wechat safe": self.customer,
            "wechat compatible": WeChatPusher(
                f"{base}/wechat/mp", self.wx_token, self.wechat.app_id, self.wx_key, compatible=True
            ),
            "wecom": self.desk,
            "wecom_kf": WeComKfPusher(f"{base}/wecom_kf/kf", KF_TOKEN, self.kf_key, CORP, open_kfid=KFID),
        }


@pytest.fixture
async def sb(tmp_path) -> AsyncIterator[FamilySandbox]:
    kf = WeComKfEmulator(CORP, KF_SECRET, KFID)
    await kf.start()
    key = new_aes_key()
    kf_account = {
        "name": "kf",
        "platform": "wecom_kf",
        "role": "customer",
        "corp_id": CORP,
        "secret": KF_SECRET,
        "token": KF_TOKEN,
        "encoding_aes_key": key,
        "open_kfid": KFID,
        "api_base_url": kf.base_url,
    }
    plain_mp = {
        "name": "mpplain",
        "platform": "wechat",
        "role": "customer",
        "app_id": "wx-plain-0001",
        "app_secret": "wx-plain-secret",
        "token": "plaintoken",
        "api_base_url": "http://127.0.0.1:9",
    }
    box = FamilySandbox(
        storage=f"sqlite:///{tmp_path / 'k.db'}",
        online=[],
        nicknames={"o_li": "李四"},
        more_accounts=[kf_account, plain_mp],
    )
    box.kf_key = key
    async with box:
        yield box
    await kf.stop()


async def _post(sb: FamilySandbox, path: str, body: bytes, query: dict[str, str] | None = None) -> tuple[int, str]:
    assert sb.http is not None
    params = query or {
        "msg_signature": "0" * 40,
        "signature": "0" * 40,
        "timestamp": str(int(time.time())),
        "nonce": "n",
    }
    async with sb.http.post(sb.base_url + path, params=params, data=body) as r:
        return r.status, await r.text()


@pytest.mark.parametrize("path", ["/wecom/desk", "/wecom_kf/kf"])
async def test_unsigned_deep_nesting_is_refused_before_it_is_parsed(sb: FamilySandbox, path: str):
    status, text = await _post(sb, path, deep(100_000).encode())
    assert (status, text) == (400, "BadRequest: the body has no <Encrypt>\n")
    body = "<xml>" + "<a>" * 100_000 + "<Encrypt>QUJD</Encrypt>" + "</a>" * 100_000 + "</xml>"
    assert (await _post(sb, path, body.encode()))[0] == 403


@pytest.mark.parametrize("path", ["/wecom/desk", "/wecom_kf/kf", "/wechat/mp"])
async def test_unsigned_body_declaring_an_unknown_encoding_is_refused_by_its_signature(sb: FamilySandbox, path: str):
    body = b'<?xml version="1.0" encoding="x-nope"?><xml><ToUserName>ww</ToUserName><Encrypt>QUJD</Encrypt></xml>'
    status, text = await _post(sb, path, body)
    assert status == 403 and "signature" in text


HOSTILE = {
    "10 000 levels deep": (deep(10_000), "nested deeper than"),
    "9 levels deep": (deep(8), "nested deeper than"),
    "an unknown declared encoding": (
        '<?xml version="1.0" encoding="x-nope"?><xml><FromUserName>o</FromUserName></xml>',
        "encoding",
    ),
    "UTF-16 declared over UTF-8 bytes": ('<?xml version="1.0" encoding="UTF-16"?><xml></xml>', "encoding"),
    "a DTD with entities": ('<!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><Content>&a;</Content></xml>', "DTD"),
    "truncated CDATA": ("<xml><Content><![CDATA[abc", "CDATA"),
}


@pytest.mark.parametrize("route", SIGNED_ROUTES)
@pytest.mark.parametrize("name", list(HOSTILE))
async def test_correctly_signed_hostile_xml_is_a_bad_request(
    sb: FamilySandbox, route: str, name: str, warnings: list[str]
):
    plain, reason = HOSTILE[name]
    assert sb.http is not None
    pusher = sb.pushers[route]
    status, text = await pusher.post(sb.http, plain)
    assert status == 400 and reason in text, text
    assert any(reason in w for w in warnings), warnings


async def test_a_deep_unsigned_wrapper_around_a_signed_message_is_never_parsed(sb: FamilySandbox):
    """Safe mode signs only <Encrypt>: kefu reads that field alone, so the wrapper cannot hurt."""
    query, body = sb.customer.signed(sb.customer.text_xml("o_li", "包在深层里的消息", 31))
    wrapped = body.replace(b"<xml>", b"<xml>" + b"<a>" * 50_000, 1).replace(b"</xml>", b"</a>" * 50_000 + b"</xml>")
    assert (await _post(sb, "/wechat/mp", wrapped, query)) == (200, "success")
    await sb.settle()
    assert sb.kefu is not None
    conv = await sb.kefu.store.open_conversation("mp", "o_li")
    assert conv is not None and await sb.kefu.store.customer_texts(conv) == ["包在深层里的消息"]


NOT_TEXT = {
    "two senders": "<xml><FromUserName>a</FromUserName><FromUserName>b</FromUserName>"
    "<MsgType>text</MsgType><Content>x</Content><CreateTime>1</CreateTime></xml>",
    "a nested media id": "<xml><FromUserName>o</FromUserName><MsgType>image</MsgType>"
    "<MediaId><a>1</a></MediaId><CreateTime>1</CreateTime></xml>",
}


@pytest.mark.parametrize("route", ["wechat plaintext", "wechat safe", "wecom"])
@pytest.mark.parametrize("name", list(NOT_TEXT))
async def test_a_field_that_is_not_text_is_a_bad_request(sb: FamilySandbox, route: str, name: str):
    """Repeated or nested fields parse as lists and dicts; a message carries only text."""
    assert sb.http is not None
    status, text = await sb.pushers[route].post(sb.http, NOT_TEXT[name])
    assert status == 400 and "is not text" in text, text


async def test_a_customer_text_posing_as_the_encrypt_field_is_taken_as_text(sb: FamilySandbox):
    """Compatible mode sends the plaintext fields beside <Encrypt>; a customer's text in CDATA is skipped."""
    assert sb.http is not None
    pusher = sb.pushers["wechat compatible"]
    status, _ = await pusher.post(sb.http, pusher.text_xml("o_li", "<Encrypt>QUJD</Encrypt>", 41))
    assert status == 200
    await sb.settle()
    assert sb.kefu is not None
    conv = await sb.kefu.store.open_conversation("mp", "o_li")
    assert conv is not None and await sb.kefu.store.customer_texts(conv) == ["<Encrypt>QUJD</Encrypt>"]
