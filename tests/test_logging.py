"""A log of a full run holds none of the configured secrets, nor the tokens fetched."""

from __future__ import annotations

from loguru import logger

from adapters.sandbox import Sandbox
from adapters.wechat.emulator import CS_SEND
from bot.log import redact, secrets_of, setup_logging
from bot.sender import Sender


async def test_a_full_run_logs_no_secret(tmp_path, monkeypatch):
    monkeypatch.setattr(Sender, "base_delay", 0.01)
    lines: list[str] = []
    sb = Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", nicknames={"o_zhangsan": "张三"})
    async with sb:
        setup_logging("DEBUG", secrets_of(sb.config), sink=lines.append)
        try:
            logger.info("config loaded: {}", sb.config.model_dump())  # even a careless dump is covered
            await sb.customer.post(sb.http, sb.customer.text_xml("o_zhangsan", "你好", 1))
            await sb.settle()
            sb.wechat.fail(CS_SEND, status=500, times=10)
            await sb.desk.post(sb.http, sb.desk.text_xml("lixiaoli", "#1001 您好", 2))
            await sb.settle()
            await sb.desk.post(sb.http, sb.desk.text_xml("lixiaoli", "#1001 您好", 3) + "broken")
        finally:
            setup_logging("WARNING")
    text = "".join(lines)
    assert "delivered relay" in text and "failed" in text  # the log did capture the run
    secrets = secrets_of(sb.config) + [sb.wechat.app_secret, sb.wecom.secret, sb.wx_key, sb.wc_key]
    secrets += sorted(sb.wechat.tokens | sb.wecom.tokens)
    for s in secrets:
        assert s not in text, f"secret {s[:4]}… leaked"


def test_url_credentials_are_masked():
    line = "GET /cgi-bin/gettoken?corpid=ww1&corpsecret=abc123 then /send?access_token=TOKEN&x=1 key=K9"
    assert redact(line, []) == "GET /cgi-bin/gettoken?corpid=ww1&corpsecret=*** then /send?access_token=***&x=1 key=***"
