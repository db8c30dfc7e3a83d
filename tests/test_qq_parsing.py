"""OneBot v11 messages as the agent reads them: a table of raw payloads (tests/fixtures/qq/), each
with the normalized message it must give, and media whose file lives on the OneBot host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.qq.onebot import inbound as onebot
from adapters.qq.onebot.emulator import PRIVATE, OneBotEmulator
from adapters.sandbox import Sandbox
from tests.test_qq import BOT, SECRET, TOKEN, onebot_account

TABLE = Path(__file__).parent / "fixtures" / "qq" / "onebot_messages.json"
CASES = [pytest.param(case, id=case["name"]) for case in json.loads(TABLE.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("case", CASES)
def test_onebot_payload_is_normalized(case: dict):
    msg = onebot.to_message("qq", case["payload"])
    assert msg.account == "qq" and msg.sent_at == 1763800000
    for field, want in case["expect"].items():
        got = msg.summary() if field == "summary" else getattr(msg, field)
        if isinstance(want, dict):  # only the keys named; None means the key must be absent
            assert {k: got.get(k) for k in want} == want, f"{field}: {got!r}"
        else:
            assert got == want, f"{field}: {got!r}"


async def test_a_qq_voice_shows_the_agent_a_label_never_a_path_on_the_onebot_host(tmp_path):
    emu = OneBotEmulator(BOT, TOKEN, SECRET)
    await emu.start()
    sb = Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", more_accounts=[onebot_account("qq", "customer", emu)])
    async with sb:
        voice = "[CQ:record,file=file:///D:/QQ/Tencent Files/3000000001/nt_qq/nt_data/Ptt/a1b2.amr]"
        assert (await emu.post(sb.http, f"{sb.base_url}/qq/qq", emu.private(12345, voice, nickname="小明")))[0] == 204
        await sb.settle()
        await emu.connect(f"{sb.base_url}/qq/qq/ws")
        picture = [{"type": "image", "data": {"file": "C:\\Users\\bot\\Pictures\\d4e5.jpg"}}]
        await emu.push(emu.private(12345, picture, nickname="小明"))
        await emu.wait_for(PRIVATE)
        await sb.settle()
        assert sb.wecom.texts_to("lixiaoli") == ["#1001 小明 (QQ): [语音]", "#1001 小明 (QQ): [图片]"]
        await emu.disconnect()
    await emu.stop()
