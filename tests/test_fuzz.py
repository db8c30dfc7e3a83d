"""Whatever arrives at a webhook, kefu answers 2xx/4xx, never crashes, and keeps serving."""

from __future__ import annotations

import asyncio

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


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST"]),
    path=st.sampled_from(["/wechat/mp", "/wecom/desk"]),
    query=QUERY,
    body=st.binary(max_size=300) | XMLISH.map(str.encode),
)
def test_routes_never_answer_5xx(tmp_path_factory, method, path, query, body):
    async def run() -> None:
        sb = Sandbox(storage=f"sqlite:///{tmp_path_factory.mktemp('f') / 'k.db'}")
        async with sb:
            async with sb.http.request(method, sb.base_url + path, params=query, data=body) as r:
                assert r.status < 500, (r.status, await r.text())
            async with sb.http.get(sb.base_url + "/healthz") as r:
                assert r.status == 200

    asyncio.run(run())
