"""What still fails after retries is a dead letter: listed, alerted, and sent again on demand."""

from __future__ import annotations

import subprocess
import sys

import yaml

from adapters.sandbox import Sandbox
from adapters.wechat.emulator import CS_SEND
from adapters.wecom.emulator import ROBOT_SEND
from bot.sender import Sender


def kefu(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, timeout=60)


async def test_a_failed_delivery_is_alerted_listed_and_sent_again(tmp_path, monkeypatch):
    monkeypatch.setattr(Sender, "base_delay", 0.01)
    groups = {
        "service": {"account": "desk", "webhook_key": "robot-key-service"},
        "ops": {"account": "desk", "webhook_key": "robot-key-supervisors"},
    }
    sb = Sandbox(
        storage=f"sqlite:///{tmp_path / 'k.db'}",
        nicknames={"o_zhangsan": "张三"},
        extra={"groups": groups, "alerts": {"to": "ops"}},
    )
    async with sb:
        config = tmp_path / "kefu.yaml"
        config.write_text(yaml.safe_dump(sb.config_dict(), allow_unicode=True), encoding="utf-8")
        await sb.write("o_zhangsan", "我的订单还没到")
        await sb.settle()
        sb.wechat.fail(CS_SEND, status=503, times=10)  # WeChat is down for a while
        await sb.say("lixiaoli", "#1001 您好,已为您查询,明天送达")
        await sb.settle()
        alerts = [c.body["text"]["content"] for c in sb.wecom.sent(ROBOT_SEND)]
        assert len(alerts) == 1 and alerts[0].startswith("⚠️ kefu 投递失败 (reply -> mp:o_zhangsan): wechat: HTTP 503")

        listed = kefu("deadletters", "--config", str(config))
        assert listed.returncode == 0, listed.stderr
        first = listed.stdout.splitlines()[0].split()
        assert first[3:5] == ["reply", "mp:o_zhangsan"] and "您好,已为您查询" in listed.stdout

        sb.wechat.faults.clear()  # WeChat is back
        marked = kefu("deadletters", "--config", str(config), "--retry", first[0])
        assert marked.returncode == 0 and marked.stdout.startswith("1 deliveries marked")
        await sb.kefu.tick()
        await sb.settle()
        assert sb.wechat.texts_to("o_zhangsan")[-1] == "您好,已为您查询,明天送达"
        assert kefu("deadletters", "--config", str(config)).stdout.strip() == "no failed deliveries"
