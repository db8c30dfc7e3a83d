"""WeChat's three encryption modes and both platforms' GET URL verification, on the wire."""

from __future__ import annotations

import pytest

from adapters.sandbox import Sandbox


@pytest.mark.parametrize("mode", ["plaintext", "compatible", "safe"])
async def test_each_wechat_mode_is_taken(mode: str, tmp_path):
    sb = Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", safe_mode=mode != "plaintext", nicknames={"o_li": "李四"})
    async with sb:
        sb.customer.compatible = mode == "compatible"
        status, body = await sb.customer.post(sb.http, sb.customer.text_xml("o_li", f"{mode} 模式", 1))
        assert (status, body) == (200, "success")
        await sb.settle()
        assert sb.wecom.texts_to("lixiaoli")[-1].endswith(f"李四 (公众号): {mode} 模式")


async def test_plaintext_body_is_refused_when_the_account_expects_encryption(local_sandbox: Sandbox):
    sb = local_sandbox
    key, sb.customer.aes_key = sb.customer.aes_key, ""
    status, _ = await sb.customer.post(sb.http, sb.customer.text_xml("o_li", "unsigned body", 2))
    assert status == 400
    sb.customer.aes_key = key


async def test_encrypted_body_for_another_app_is_refused(local_sandbox: Sandbox):
    sb = local_sandbox
    sb.customer.app_id = "wx_someone_else"
    status, _ = await sb.customer.post(sb.http, sb.customer.text_xml("o_li", "hi", 3))
    assert status == 403


async def test_wechat_get_verification_echoes_and_refuses_a_bad_signature(local_sandbox: Sandbox):
    sb = local_sandbox
    assert await sb.customer.verify(sb.http, "echo-789") == (200, "echo-789")
    params = {"signature": "0" * 40, "timestamp": "1", "nonce": "n", "echostr": "x"}
    async with sb.http.get(sb.customer.url, params=params) as r:
        assert r.status == 403
    async with sb.http.get(sb.customer.url, params={"echostr": "x"}) as r:
        assert r.status == 400


async def test_wecom_get_verification_answers_the_decrypted_echostr(local_sandbox: Sandbox):
    sb = local_sandbox
    assert await sb.desk.verify(sb.http, "wecom-echo-42") == (200, "wecom-echo-42")
    sb.desk.token = "not-the-token"
    status, _ = await sb.desk.verify(sb.http)
    assert status == 403


async def test_oversized_body_is_refused(local_sandbox: Sandbox):
    sb = local_sandbox
    query, _ = sb.customer.signed("<xml/>")
    async with sb.http.post(sb.customer.url, params=query, data=b"<xml>" + b"a" * 2_000_000 + b"</xml>") as r:
        assert r.status == 413


async def test_healthz_reports_storage_and_state(local_sandbox: Sandbox):
    async with local_sandbox.http.get(local_sandbox.base_url + "/healthz") as r:
        assert r.status == 200
        assert await r.json() == {"status": "ok", "storage": "ok", "state": "ok"}


async def test_a_stale_timestamp_is_refused(local_sandbox: Sandbox):
    sb = local_sandbox
    old = str(int(__import__("time").time()) - 3600)
    status, _ = await sb.customer.post(sb.http, sb.customer.text_xml("o_li", "一小时前的消息", 11), timestamp=old)
    assert status == 403


async def test_a_captured_plaintext_signature_cannot_carry_another_body(engines):
    bus, storage = engines  # on Redis the signature is checked in the same script as the message is stored
    sb = Sandbox(storage=storage, bus=bus, safe_mode=False, nicknames={"o_li": "李四"})
    async with sb:
        query, body = sb.customer.signed(sb.customer.text_xml("o_li", "真的消息", 21))
        for _ in range(2):  # the platform's retry: same signature, same body
            async with sb.http.post(sb.customer.url, params=query, data=body) as r:
                assert r.status == 200
        forged = sb.customer.text_xml("o_li", "伪造的消息", 22).encode()
        async with sb.http.post(sb.customer.url, params=query, data=forged) as r:
            assert r.status == 403
        await sb.settle()
        assert [t.split(": ", 1)[1] for t in sb.wecom.texts_to("lixiaoli")] == ["真的消息"]
