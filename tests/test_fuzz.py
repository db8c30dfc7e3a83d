"""Whatever arrives at a webhook, kefu answers 2xx/4xx, never crashes, and keeps serving."""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.sandbox import Sandbox
from adapters.wechat.inbound import to_message as wechat_message
from adapters.wecom.inbound import to_message as wecom_message
from bot.errors import BadRequest

TAGS = st.sampled_from(["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event", "Encrypt"])
VALUES = st.one_of(st.text(max_size=20), st.sampled_from(["text", "event", "image", "subscribe", "-1", "9" * 30]))
XMLISH = st.one_of(
    st.text(max_size=200),
    st.lists(st.tuples(TAGS, VALUES), max_size=8).map(
        lambda kv: "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in kv) + "</xml>"
    ),
)


@settings(max_examples=300, deadline=None)
@given(XMLISH)
def test_parsers_give_a_message_or_a_bad_request(body: str):
    for parse in (wechat_message, wecom_message):
        try:
            parse("acct", body)
        except BadRequest:
            pass


QUERY = st.dictionaries(
    st.sampled_from(["signature", "timestamp", "nonce", "echostr", "encrypt_type", "msg_signature", "openid"]),
    st.text(max_size=16),
    max_size=7,
)


ROUTES = ["/wechat/mp", "/wecom/desk", "/dingtalk/dd", "/qq/cq", "/qq/cbot", "/wecom_kf/ckf"]
HEADERS = st.dictionaries(
    st.sampled_from(["timestamp", "sign", "X-Signature", "X-Self-ID", "X-Signature-Ed25519", "X-Signature-Timestamp"]),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=40),
    max_size=4,
)
KEYS = [
    "op",
    "d",
    "t",
    "id",
    "post_type",
    "message",
    "msgtype",
    "text",
    "msgId",
    "senderStaffId",
    "user_id",
    "self_id",
    "message_type",
    "content",
    "plain_token",
    "event_ts",
]
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.sampled_from(KEYS), kids, max_size=5),
    max_leaves=12,
).map(lambda v: json.dumps(v).encode())
MORE_ACCOUNTS = [
    {
        "name": "cq",
        "platform": "qq",
        "role": "customer",
        "protocol": "onebot",
        "access_token": "t",
        "secret": "s",
        "api_url": "http://127.0.0.1:9",
    },
    {
        "name": "cbot",
        "platform": "qq",
        "role": "customer",
        "protocol": "official",
        "app_id": "1",
        "app_secret": "naOC0ocQE3shWLAfffVLB1rhYPG7",
        "api_base_url": "http://127.0.0.1:9",
        "token_url": "http://127.0.0.1:9/t",
    },
    {
        "name": "ckf",
        "platform": "wecom_kf",
        "role": "customer",
        "corp_id": "ww",
        "secret": "s",
        "token": "t",
        "encoding_aes_key": "a" * 43,
        "open_kfid": "wk",
        "api_base_url": "http://127.0.0.1:9",
    },
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST"]),
    path=st.sampled_from(ROUTES),
    query=QUERY,
    headers=HEADERS,
    body=st.binary(max_size=300) | XMLISH.map(str.encode) | JSONISH,
)
def test_routes_never_answer_5xx(tmp_path_factory, method, path, query, headers, body):
    """Every inbound route of every platform, with generated bodies and headers."""

    async def run() -> None:
        sb = Sandbox(
            storage=f"sqlite:///{tmp_path_factory.mktemp('f') / 'k.db'}",
            online=[],
            dingtalk_role="desk",
            more_accounts=MORE_ACCOUNTS,
        )
        async with sb:
            async with sb.http.request(method, sb.base_url + path, params=query, data=body, headers=headers) as r:
                assert r.status < 500, (r.status, await r.text())
            async with sb.http.get(sb.base_url + "/healthz") as r:
                assert r.status == 200

    asyncio.run(run())
