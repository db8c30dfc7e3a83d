"""Internal group notices go out through a WeCom group robot webhook or an appchat."""

from __future__ import annotations

from adapters.sandbox import Sandbox
from adapters.wecom.emulator import APPCHAT_SEND, ROBOT_SEND
from bot.model import Delivery


async def test_a_notice_to_a_robot_group_and_to_an_appchat(tmp_path):
    sb = Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}")
    sb.extra = {
        "groups": {
            "service": {"account": "desk", "webhook_key": "robot-key-service"},
            "after_sales": {"account": "desk", "chat_id": "desk-chat"},
            "broken": {"account": "desk", "webhook_key": "revoked-key"},
        }
    }
    async with sb:
        for group in ("service", "after_sales", "broken"):
            await sb.kefu.enqueue_delivery(
                Delivery(account="desk", to=group, group=group, text=f"通知 {group}", purpose="notice")
            )
        await sb.settle()
        robot = sb.wecom.sent(ROBOT_SEND)
        assert [(c.query["key"], c.body["text"]["content"]) for c in robot] == [("robot-key-service", "通知 service")]
        assert [c.body for c in sb.wecom.sent(APPCHAT_SEND)] == [
            {"chatid": "desk-chat", "msgtype": "text", "text": {"content": "通知 after_sales"}, "safe": 0}
        ]
        rows = {r["party"]: r for r in await sb.kefu.store.transcript()}
        assert rows["service"]["status"] == "sent" and rows["after_sales"]["status"] == "sent"
        assert rows["broken"]["status"] == "failed" and "93000" in rows["broken"]["error"]


async def test_a_group_robot_is_paced_not_dropped(tmp_path, monkeypatch):
    """Group robots take 20 messages a minute: kefu spaces them out and loses none."""
    from adapters.wecom.client import WeComClient

    monkeypatch.setattr(WeComClient, "robot_interval", 0.3)  # the real pace is 3 s
    sb = Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}")
    async with sb:
        for i in range(4):
            await sb.kefu.enqueue_delivery(
                Delivery(account="desk", to="service", group="service", text=f"通知 {i}", purpose="notice")
            )
        await sb.settle()
        calls = sb.wecom.sent(ROBOT_SEND)
        assert [c.body["text"]["content"] for c in calls] == [f"通知 {i}" for i in range(4)]
        gaps = [b.at - a.at for a, b in zip(calls, calls[1:], strict=False)]
        assert min(gaps) >= 0.25, gaps
