"""Pictures and a QQ desk (OneBot v11, which declares no picture abilities): the desk group reads the
customer's picture as its labelled line, and an agent's picture stays with the agent, who is told."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.qq.onebot.emulator import OneBotEmulator
from adapters.sandbox import Sandbox
from adapters.wechat.emulator import CS_SEND

DESK_GROUP, AGENT_QQ = 20001, 10001
GREETING = "您好,我是在线客服,很高兴为您服务"


@pytest.fixture
async def qq_desk(tmp_path) -> AsyncIterator[tuple[Sandbox, OneBotEmulator]]:
    """WeChat customers; 小周 answers from QQ (relays go to the desk group); the WeCom agents stay offline."""
    qq = OneBotEmulator(3_000_000_002, "desk-tok", "desk-secret")
    await qq.start()
    account = {
        "name": "qqdesk",
        "platform": "qq",
        "role": "desk",
        "protocol": "onebot",
        "access_token": "desk-tok",
        "secret": "desk-secret",
        "api_url": qq.base_url,
        "desk_chat": str(DESK_GROUP),
    }
    sb = Sandbox(
        storage=f"sqlite:///{tmp_path / 'k.db'}",
        online=[],
        nicknames={"o_zhangsan": "张三"},
        more_accounts=[account],
        more_agents=[{"name": "小周", "ids": {"qqdesk": str(AGENT_QQ)}}],
    )
    try:
        async with sb:
            await qq_says(sb, qq, "上线")
            await sb.settle()
            yield sb, qq
    finally:
        await qq.stop()


async def qq_says(sb: Sandbox, qq: OneBotEmulator, message: object) -> None:
    """小周 writes to the bot 1:1 (a text, or OneBot segments)."""
    await qq.post(sb.http, f"{sb.base_url}/qq/qqdesk", qq.private(AGENT_QQ, message, nickname="小周"))


async def test_a_customers_picture_reaches_a_qq_desk_group_as_its_labelled_line(qq_desk):
    sb, qq = qq_desk
    sb.wechat.media["wx-pic-1"] = b"\xff\xd8 customer photo"
    fields = {"PicUrl": "http://mmbiz.qpic.cn/p.jpg", "MediaId": "wx-pic-1", "MsgId": 5}
    await sb.customer.post(sb.http, sb.customer.xml("o_zhangsan", "image", fields))
    await sb.settle()
    assert qq.group_texts(DESK_GROUP) == ["#1001 张三 (公众号): [图片] http://mmbiz.qpic.cn/p.jpg"]
    assert await sb.kefu.store.dead_letters() == []


async def test_a_qq_agents_picture_stays_with_the_agent_who_is_told(qq_desk):
    sb, qq = qq_desk
    await sb.write("o_zhangsan", "能发个图吗")
    await sb.settle()
    await qq_says(sb, qq, "#1001 您好,我用文字说明一下")
    await sb.settle()
    picture = [{"type": "image", "data": {"file": "abc.jpg", "url": "https://gchat.qpic.cn/abc.jpg"}}]
    await qq_says(sb, qq, picture)  # to 小周's current conversation, #1001
    await sb.settle()
    assert [c.body["msgtype"] for c in sb.wechat.sent(CS_SEND)] == ["text", "text"]
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING, "您好,我用文字说明一下"]
    assert "图片暂时无法从QQ转发给客户,请用文字说明" in qq.texts_to(AGENT_QQ)[-1]
    assert await sb.kefu.store.dead_letters() == []
