"""Whatever arrives at a webhook, kefu answers 2xx/4xx, never 5xx, and keeps serving.

Thousands of bodies go to every inbound route kefu serves, each twice: unsigned, and correctly
signed (and, for the WeChat family, encrypted with wechatpy's own crypto) so that the body itself
reaches the inner parse. `pytest -s` prints the tally."""

from __future__ import annotations

import asyncio
import base64
import codecs
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from loguru import logger
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner
from wechatpy.work.crypto import WeChatCrypto as WorkCrypto

from adapters.sandbox import Sandbox
from adapters.wechat.inbound import to_message as wechat_message
from adapters.wecom.inbound import to_message as wecom_message
from bot.errors import BadRequest

# -- what is posted ---------------------------------------------------------------------

TAGS = st.sampled_from(["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event", "Encrypt"])
VALUES = st.one_of(st.text(max_size=20), st.sampled_from(["text", "event", "image", "subscribe", "-1", "9" * 30]))
XMLISH = st.one_of(
    st.text(max_size=200),
    st.lists(st.tuples(TAGS, VALUES), max_size=8).map(
        lambda kv: "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in kv) + "</xml>"
    ),
)
MESSAGE = (
    "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[o_fuzz]]></FromUserName>"
    "<CreateTime>1763800000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content>"
    "<MsgId>1</MsgId></xml>"
)
ENCODINGS = ["x-nope", "utf-16", "UTF-16LE", "utf-32", "latin-1", "gbk", "utf-7", "cp037", "rot13", "idna", "hex"]
ENCODINGS += ["base64", "zlib", "", "UTF-8", "utf8", " utf-8 ", "ascii", "utf_8", "mbcs", "\u00e9", "x" * 300]
BOMS = [codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE]


def nested(levels: int, tag: str = "a", inner: str = "x", closed: bool = True, root: bool = True) -> bytes:
    body = f"<{tag}>" * levels + inner + (f"</{tag}>" * levels if closed else "")
    return (f"<xml>{body}</xml>" if root else body).encode()


DEEP = st.builds(
    nested,
    st.integers(9, 60_000),
    st.sampled_from(["a", "xml", "Encrypt", "Content", "x" * 40]),
    st.sampled_from(["x", "<Encrypt>QUJD</Encrypt>", "<![CDATA[", ""]),
    st.booleans(),
    st.booleans(),
)
DEEP_JSON = st.builds(
    lambda n, opener, closed: ((opener * n) + ("1" + {"[": "]", '{"a":': "}"}[opener] * n if closed else "")).encode(),
    st.integers(100, 200_000),
    st.sampled_from(["[", '{"a":']),
    st.booleans(),
)
DECLARED = st.builds(
    lambda enc, quote, body: f'<?xml version="1.0" encoding={quote}{enc}{quote}?>{body}'.encode(),
    st.sampled_from(ENCODINGS) | st.text(max_size=12),
    st.sampled_from(['"', "'", ""]),
    st.sampled_from([MESSAGE, "<xml/>", "<xml><a>\u4f60\u597d</a></xml>"]),
)
ENCODED = st.builds(
    lambda codec, body: body.encode(codec),
    st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "gb18030", "cp037"]),
    st.sampled_from([MESSAGE, '<?xml version="1.0" encoding="UTF-16"?>' + MESSAGE, '{"op": 13, "d": {}}']),
)
BOMMED = st.builds(lambda bom, body: bom + body, st.sampled_from(BOMS), st.sampled_from([MESSAGE.encode(), b"{}"]))
TRUNCATED = st.builds(
    lambda cut: MESSAGE.encode()[:cut] + b"<![CDATA[" + b"]" * (cut % 3),
    st.integers(0, len(MESSAGE)),
)
HUGE_ATTRIBUTE = st.builds(
    lambda n, quote: b"<xml a=" + quote + b"x" * n + quote + b"><MsgType>text</MsgType></xml>",
    st.integers(1, 900_000),
    st.sampled_from([b'"', b"'", b""]),
)
KEYS = ["op", "d", "t", "id", "post_type", "message", "msgtype", "text", "msgId", "senderStaffId", "user_id"]
KEYS += ["self_id", "message_type", "content", "plain_token", "event_ts", "createAt", "sessionWebhookExpiredTime"]
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.sampled_from(KEYS), kids, max_size=5),
    max_leaves=12,
)


def shaped(required: dict[str, Any], optional: list[str]) -> st.SearchStrategy[bytes]:
    """A platform's JSON event: the fields its adapter needs to go on, the rest anything."""
    return st.fixed_dictionaries(required, optional={k: ANY_JSON for k in optional}).map(
        lambda v: json.dumps(v).encode()
    )


_ID = st.text(min_size=1, max_size=8)
DINGTALK_EVENT = shaped(
    {"senderStaffId": _ID, "msgId": _ID, "msgtype": st.sampled_from(["text", "picture", "richText", "audio", "x"])},
    ["text", "content", "createAt", "conversationType", "conversationId", "sessionWebhook", "senderNick"]
    + ["sessionWebhookExpiredTime", "conversationTitle", "isInAtList", "atUsers", "robotCode", "senderId"],
)
QQ_EVENT = shaped(
    {"op": st.sampled_from([0, 13]), "t": st.sampled_from(["C2C_MESSAGE_CREATE", "GROUP_AT_MESSAGE_CREATE", "X"])}
    | {"d": st.fixed_dictionaries({"id": _ID}, optional={k: ANY_JSON for k in ["author", "content", "timestamp"]})},
    ["id", "s"],
)
QQ_ATTACHMENTS = shaped(
    {"op": st.just(0), "t": st.just("C2C_MESSAGE_CREATE")}
    | {"d": st.fixed_dictionaries({"id": _ID, "author": st.just({"user_openid": "u"}), "attachments": ANY_JSON})},
    [],
)
ONEBOT_EVENT = shaped(
    {"post_type": st.just("message"), "message_type": st.sampled_from(["private", "group", "x"]), "user_id": ANY_JSON}
    | {"message_id": ANY_JSON},
    ["message", "raw_message", "group_id", "sender", "self_id", "time", "sub_type", "anonymous"],
)
JSONISH = st.one_of(
    ANY_JSON.map(lambda v: json.dumps(v).encode()), DINGTALK_EVENT, QQ_EVENT, QQ_ATTACHMENTS, ONEBOT_EVENT
)
HOSTILE = st.one_of(DEEP, DEEP_JSON, DECLARED, ENCODED, BOMMED, TRUNCATED, HUGE_ATTRIBUTE)
BODIES = st.one_of(HOSTILE, st.binary(max_size=300), XMLISH.map(str.encode), JSONISH)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(XMLISH.map(str.encode) | HOSTILE)
def test_parsers_give_a_message_or_a_bad_request(body: bytes):
    for parse in (wechat_message, wecom_message):
        try:
            parse("acct", body.decode("utf-8", errors="replace"))
        except BadRequest:
            pass


# -- where it goes: every inbound route, unsigned and correctly signed -------------------

KF_TOKEN, KF_KEY, KF_CORP = "kftoken", "a" * 43, "wwkf"
QQ_SECRET, ONEBOT_SECRET = "naOC0ocQE3shWLAfffVLB1rhYPG7", "onebot-secret"
PLAIN_MP = {"name": "mpplain", "platform": "wechat", "role": "customer", "app_id": "wxplain", "app_secret": "s"}
ONEBOT = {"name": "cq", "platform": "qq", "role": "customer", "protocol": "onebot", "access_token": "t"}
OFFICIAL = {"name": "cbot", "platform": "qq", "role": "customer", "protocol": "official", "app_id": "1"}
KF = {"name": "ckf", "platform": "wecom_kf", "role": "customer", "corp_id": KF_CORP, "secret": "s", "open_kfid": "wk"}
NOWHERE = "http://127.0.0.1:9"  # outbound calls fail fast: only the webhooks matter here
MORE_ACCOUNTS = [
    {**PLAIN_MP, "token": "plaintoken", "api_base_url": NOWHERE},
    {**ONEBOT, "secret": ONEBOT_SECRET, "api_url": NOWHERE},
    {**OFFICIAL, "app_secret": QQ_SECRET, "api_base_url": NOWHERE, "token_url": NOWHERE + "/t"},
    {**KF, "token": KF_TOKEN, "encoding_aes_key": KF_KEY, "api_base_url": NOWHERE},
]
Signed = tuple[dict[str, str], dict[str, str], bytes]  # query, headers, body


def _now() -> tuple[str, str]:
    return str(int(time.time())), secrets.token_hex(5)


def _field(xml: str, name: str) -> str:
    found = re.search(rf"<{name}><!\[CDATA\[(.*?)\]\]></{name}>", xml)
    assert found, xml
    return found.group(1)


def _wrapped(to: str, encrypted_xml: str) -> bytes:
    """The body the platform posts in safe mode: the addressee and the <Encrypt> wechatpy made."""
    encrypt = _field(encrypted_xml, "Encrypt")
    return f"<xml><ToUserName><![CDATA[{to}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()


def wechat_plain(body: bytes) -> Signed:
    ts, nonce = _now()
    signer = WeChatSigner()
    signer.add_data("plaintoken", ts, nonce)
    return {"signature": signer.signature, "timestamp": ts, "nonce": nonce}, {}, body


def wechat_safe(sb: Sandbox) -> Callable[[bytes], Signed]:
    def sign(body: bytes) -> Signed:
        ts, nonce = _now()
        out = WeChatCrypto(sb.wx_token, sb.wx_key, sb.wechat.app_id).encrypt_message(body, nonce, ts)
        signer = WeChatSigner()
        signer.add_data(sb.wx_token, ts, nonce)
        query = {"signature": signer.signature, "timestamp": ts, "nonce": nonce, "encrypt_type": "aes"}
        query["msg_signature"] = _field(out, "MsgSignature")
        return query, {}, _wrapped("gh_x", out)

    return sign


def wecom(token: str, key: str, corp: str) -> Callable[[bytes], Signed]:
    def sign(body: bytes) -> Signed:
        ts, nonce = _now()
        out = WorkCrypto(token, key, corp).encrypt_message(body, nonce, ts)
        return {"msg_signature": _field(out, "MsgSignature"), "timestamp": ts, "nonce": nonce}, {}, _wrapped(corp, out)

    return sign


def dingtalk(secret: str) -> Callable[[bytes], Signed]:
    def sign(body: bytes) -> Signed:  # the robot's sign covers the time only, not the body
        ts = str(int(time.time() * 1000))
        digest = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
        return {}, {"timestamp": ts, "sign": base64.b64encode(digest).decode()}, body

    return sign


def qq_official(body: bytes) -> Signed:
    seed = (QQ_SECRET * 2)[:32].encode()  # the platform's key: the secret repeated to 32 bytes
    ts = str(int(time.time()))
    sig = Ed25519PrivateKey.from_private_bytes(seed).sign(ts.encode() + body).hex()
    return {}, {"X-Signature-Ed25519": sig, "X-Signature-Timestamp": ts, "X-Bot-Appid": "1"}, body


def onebot(body: bytes) -> Signed:
    sig = "sha1=" + hmac.new(ONEBOT_SECRET.encode(), body, hashlib.sha1).hexdigest()
    return {}, {"X-Signature": sig, "X-Self-ID": "10001"}, body


class Kefu:
    """One kefu for the whole module, on its own loop in a thread: thousands of requests, one start."""

    def __init__(self, tmp: Any):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sb = Sandbox(
            storage=f"sqlite:///{tmp / 'k.db'}", online=[], dingtalk_role="desk", more_accounts=MORE_ACCOUNTS
        )
        self.run(self.sb.start())
        sb = self.sb
        self.signers: dict[str, Callable[[bytes], Signed]] = {
            "/wechat/mpplain": wechat_plain,
            "/wechat/mp": wechat_safe(sb),
            "/wecom/desk": wecom(sb.wc_token, sb.wc_key, sb.wecom.corp_id),
            "/wecom_kf/ckf": wecom(KF_TOKEN, KF_KEY, KF_CORP),
            "/dingtalk/dd": dingtalk(sb.dingtalk.app_secret),
            "/qq/cbot": qq_official,
            "/qq/cq": onebot,
        }
        self.tally: Counter[str] = Counter()
        self.failing: Counter[str] = Counter()  # route -> 5xx answers
        self.bad: list[str] = []
        # a body that was answered 2xx may still break a handler later, on the bus: kefu logs
        # every such failure with its exception, and none may appear
        self.crashes: list[str] = []
        self.sink = logger.add(self._crashed, level="ERROR", filter=lambda r: r["exception"] is not None)

    def _crashed(self, message: Any) -> None:
        r = message.record
        self.crashes.append(f"{r['name']}:{r['function']}: {r['exception'].type.__name__}: {r['exception'].value}")

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    async def _one(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> None:
        sb = self.sb
        assert sb.http is not None
        async with sb.http.request(method, sb.base_url + path, params=query, data=body, headers=headers) as r:
            text = await r.text()
        self.tally[f"{r.status // 100}xx"] += 1
        if r.status >= 500:
            self.failing[path] += 1
            sent = f"{body[:120]!r} ({len(body)} bytes), query {str(query)[:100]}, headers {str(headers)[:100]}"
            self.bad.append(f"{method} {path} {r.status} {text[:80]!r} for {sent}")

    async def _all(self, body: bytes, query: dict[str, str], headers: dict[str, str], method: str) -> None:
        jobs = []
        for path, sign in self.signers.items():
            jobs.append(self._one(method, path, query, headers, body))
            jobs.append(self._one("POST", path, *sign(body)))
        await asyncio.gather(*jobs)

    def post_everywhere(self, body: bytes, query: dict[str, str] | None = None, headers: Any = None, method="POST"):
        """The body to every route: as it is (with the given query and headers), and correctly signed."""
        before = len(self.bad)
        self.run(self._all(body, query or {}, headers or {}, method))
        assert self.bad[before:] == [], "\n".join(self.bad[before:])

    def close(self) -> None:
        async def check_and_stop() -> int:
            assert self.sb.http is not None
            async with self.sb.http.get(self.sb.base_url + "/healthz") as r:
                status = r.status
            await self.sb.stop()
            return status

        try:
            assert self.run(check_and_stop()) == 200, "kefu still serves after the fuzzing"
        finally:
            logger.remove(self.sink)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
        assert self.crashes == [], "\n".join(sorted(set(self.crashes)))


@pytest.fixture(scope="module")
def kefu(tmp_path_factory) -> Iterator[Kefu]:
    k = Kefu(tmp_path_factory.mktemp("fuzz"))
    started = time.monotonic()
    try:
        yield k
    finally:
        try:
            k.close()
        finally:
            t = k.tally
            print(
                f"\nfuzz: {t.total()} bodies over {len(k.signers)} routes in {time.monotonic() - started:.0f} s: "
                f"{t['5xx']} 5xx, 4xx {t['4xx']}, 2xx {t['2xx']}; {len(k.crashes)} exceptions logged"
                + "".join(f"\n  {n} 5xx on {path}" for path, n in k.failing.most_common())
            )


CORPUS = {
    "100 000 levels of <a>": nested(100_000),
    "30 000 levels around an <Encrypt>": nested(30_000, inner="<Encrypt>QUJD</Encrypt>"),
    "unclosed 50 000 levels": nested(50_000, closed=False),
    "20 000 levels of <xml>": nested(20_000, tag="xml", root=False),
    "deep JSON array": b"[" * 100_000 + b"]" * 100_000,
    "deep JSON object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "unknown declared encoding": b'<?xml version="1.0" encoding="x-nope"?>' + MESSAGE.encode(),
    "UTF-16 with a BOM": MESSAGE.encode("utf-16"),
    "UTF-16 declared, UTF-8 bytes": b'<?xml version="1.0" encoding="UTF-16"?>' + MESSAGE.encode(),
    "EBCDIC": MESSAGE.encode("cp037"),
    "a UTF-8 BOM": codecs.BOM_UTF8 + MESSAGE.encode(),
    "truncated CDATA": b"<xml><Content><![CDATA[" + b"x" * 1000,
    "a 900 KB attribute": b'<xml a="' + b"x" * 900_000 + b'"/>',
    "a DTD in UTF-16": '<!DOCTYPE xml [<!ENTITY a "a">]><xml>&a;</xml>'.encode("utf-16"),
    "billion laughs": b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><xml>&b;</xml>',
    "NUL bytes": b"<xml>\x00\x00</xml>",
    "two <Encrypt>": b"<xml><Encrypt>QUJD</Encrypt><Encrypt>QUJD</Encrypt></xml>",
    "not base64": b"<xml><Encrypt>%%%</Encrypt></xml>",
    "lone surrogates": b"<xml>\xed\xa0\x80</xml>",
    "random bytes": bytes(range(256)) * 8,
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_known_hostile_bodies_never_get_a_5xx_on_any_route(kefu: Kefu, name: str):
    kefu.post_everywhere(CORPUS[name], {"msg_signature": "0" * 40, "timestamp": str(int(time.time())), "nonce": "n"})


# numbers that str.isdigit() takes and int() or float() do not, and times close enough to get past
# a freshness check to the signature behind it
ODD = {"a superscript digit": "²", "400 nines": "9" * 400, "negative": "-1", "exponent": "1e3", "spaced": " 1"}
ODD |= {"hex": "0x10", "underscored": "1_000", "NaN": "NaN", "non-ASCII sha1": "sha1=²", "64 non-ASCII": "²" * 64}
ODD_NUMBERS = st.sampled_from(list(ODD.values()))
NOW = st.builds(lambda: str(int(time.time()))) | st.builds(lambda: str(int(time.time() * 1000)))


@pytest.mark.parametrize("name", list(ODD))
def test_odd_timestamps_and_signatures_never_get_a_5xx_on_any_route(kefu: Kefu, name: str):
    odd = ODD[name]
    query = {"timestamp": odd, "signature": odd, "msg_signature": odd, "nonce": "n"}
    ms = str(int(time.time() * 1000))  # a fresh time beside an odd signature, and the other way round
    for headers in ({"timestamp": odd, "sign": odd}, {"timestamp": ms, "sign": odd}):
        headers |= {"X-Signature": odd, "X-Signature-Timestamp": odd, "X-Signature-Ed25519": odd}
        kefu.post_everywhere(MESSAGE.encode(), query, headers)


QUERY = st.dictionaries(
    st.sampled_from(["signature", "timestamp", "nonce", "echostr", "encrypt_type", "msg_signature", "openid"]),
    st.text(max_size=16) | ODD_NUMBERS | NOW | st.just("１２３"),
    max_size=7,
)
HEADERS = st.dictionaries(
    st.sampled_from(["timestamp", "sign", "X-Signature", "X-Self-ID", "X-Signature-Ed25519", "X-Signature-Timestamp"]),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=40) | ODD_NUMBERS | NOW,
    max_size=4,
)


# no shrinking: a failure already names the route and the body's start, and shrinking megabyte
# bodies over HTTP would take minutes
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate])
@given(body=BODIES, query=QUERY, headers=HEADERS, method=st.sampled_from(["POST", "POST", "POST", "GET"]))
def test_generated_bodies_never_get_a_5xx_on_any_route(kefu: Kefu, body: bytes, query, headers, method):
    kefu.post_everywhere(body, query, headers, method)
