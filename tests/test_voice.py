"""A customer's voice: its recognition as the agent's line, then the audio itself where the desk plays it."""

from __future__ import annotations

from adapters.sandbox import Sandbox
from adapters.wechat.emulator import MEDIA_GET
from adapters.wecom.emulator import APP_SEND, MEDIA_UPLOAD

AMR = b"#!AMR\n" + bytes([0x3C]) + b"\x11" * 31 + bytes([0x3C]) + b"\x22" * 31  # two 12.2 kbit/s frames


def voice_xml(sb: Sandbox, media_id: str, fmt: str, msg_id: int) -> str:
    fields = {"MediaId": media_id, "Format": fmt, "Recognition": "水壶坏了", "MsgId": msg_id}
    return sb.customer.xml("o_zhangsan", "voice", fields)


def voices_to(sb: Sandbox, user_id: str) -> list[dict]:
    return [c.body for c in sb.wecom.sent(APP_SEND) if c.body["msgtype"] == "voice" and c.body["touser"] == user_id]


async def test_a_customers_voice_reaches_the_agent_as_its_line_and_the_audio(local_sandbox: Sandbox):
    sb = local_sandbox
    sb.wechat.media["wx-voice-1"] = AMR
    await sb.customer.post(sb.http, voice_xml(sb, "wx-voice-1", "amr", 7))
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 张三 (公众号): [语音] 水壶坏了"]
    voices = voices_to(sb, "lixiaoli")
    assert len(voices) == 1 and set(voices[0]["voice"]) == {"media_id"}
    assert sb.wecom.media[voices[0]["voice"]["media_id"]] == AMR
    assert [c.query["type"] for c in sb.wecom.sent(MEDIA_UPLOAD)] == ["voice"]


async def test_a_speex_voice_is_its_line_and_the_reason(local_sandbox: Sandbox):
    sb = local_sandbox
    sb.wechat.media["wx-voice-2"] = b"speex audio"
    await sb.customer.post(sb.http, voice_xml(sb, "wx-voice-2", "speex", 8))
    await sb.settle()
    [line] = sb.wecom.texts_to("lixiaoli")
    assert line.startswith("#1001 张三 (公众号): [语音] 水壶坏了 (语音未转发: speex 格式") and "AMR" in line
    assert voices_to(sb, "lixiaoli") == [] and sb.wecom.sent(MEDIA_UPLOAD) == []
    assert sb.wechat.sent(MEDIA_GET) == []  # not even fetched: kefu converts no audio


async def test_an_expired_voice_is_reported_once(local_sandbox: Sandbox):
    sb = local_sandbox  # no "wx-voice-gone" in the WeChat emulator: media/get answers 40007
    await sb.customer.post(sb.http, voice_xml(sb, "wx-voice-gone", "amr", 9))
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 张三 (公众号): [语音] 水壶坏了"]
    assert voices_to(sb, "lixiaoli") == []
    assert len(sb.wechat.sent(MEDIA_GET, accepted=False)) == 1  # asked once, never again
    failed = [r for r in await sb.kefu.store.transcript() if r["status"] == "failed"]
    assert len(failed) == 1 and "40007" in failed[0]["error"], failed


async def test_a_voice_over_a_minute_is_refused_with_the_reason(local_sandbox: Sandbox):
    sb = local_sandbox
    sb.wechat.media["wx-voice-3"] = b"#!AMR\n" + (bytes([0x3C]) + b"\x33" * 31) * 3001  # 60.02 s
    await sb.customer.post(sb.http, voice_xml(sb, "wx-voice-3", "amr", 10))
    await sb.settle()
    assert voices_to(sb, "lixiaoli") == [] and sb.wecom.sent(MEDIA_UPLOAD) == []
    failed = [r for r in await sb.kefu.store.transcript() if r["status"] == "failed"]
    assert len(failed) == 1 and "over WeCom's 60 s" in failed[0]["error"], failed
