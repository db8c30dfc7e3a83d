"""What crosses to and from DingTalk besides plain text, through real signed callbacks on 127.0.0.1:
rich text (text with pasted pictures), pictures, voice, files and types kefu does not know.

DingTalk declares no picture abilities yet, so a picture never crosses it: the text goes, and
whoever wrote the picture is told (an agent) or the desk reads a labelled line (a customer)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.dingtalk.adapter import DingTalkAdapter
from adapters.sandbox import Sandbox
from adapters.wechat.emulator import CS_SEND
from adapters.wecom.emulator import APP_SEND
from bot.errors import PlatformError
from bot.model import Delivery

GREETING = "您好,我是在线客服,很高兴为您服务"
FROM_DINGTALK = "图片暂时无法从钉钉转发给客户,请用文字说明"


@pytest.fixture
async def dd_desk(tmp_path) -> AsyncIterator[Sandbox]:
    """WeChat customers; 小张 answers from DingTalk (the WeCom agents stay offline)."""
    names = {"o_zhangsan": "张三", "o_lisi": "李四"}
    sb = Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", dingtalk_role="desk", online=[], nicknames=names)
    async with sb:
        await sb.ding("zhang001", "上线")
        await sb.settle()
        yield sb


@pytest.fixture
async def dd_customers(tmp_path) -> AsyncIterator[Sandbox]:
    """吴经理 writes to the DingTalk robot as a customer; WeCom agents answer."""
    async with Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}", dingtalk_role="customer") as sb:
        yield sb


def wechat_calls_to(sb: Sandbox, openid: str) -> list[dict]:
    return [c.body for c in sb.wechat.sent(CS_SEND) if c.body.get("touser") == openid]


async def test_an_agents_rich_text_answers_its_ticket_and_the_agent_hears_the_picture_stayed(dd_desk: Sandbox):
    sb = dd_desk
    await sb.write("o_zhangsan", "我的发票开错了")
    await sb.write("o_lisi", "在吗")
    await sb.settle()
    await sb.ding("zhang001", "#1002 您好,在的")  # 小张's current conversation is now #1002
    await sb.settle()
    await sb.dd.post(sb.http, sb.dd.rich_text("zhang001", "#1001 您好,请看这张发票", "pic:dc-invoice-1"))
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING, "您好,请看这张发票"]
    assert sb.wechat.texts_to("o_lisi") == [GREETING, "您好,在的"]
    assert all(c["msgtype"] == "text" and c["text"]["content"] for c in wechat_calls_to(sb, "o_zhangsan"))
    assert FROM_DINGTALK in sb.dingtalk.texts_to("zhang001")[-1]
    assert await sb.kefu.store.dead_letters() == []


async def test_an_agents_message_with_nothing_for_the_customer_goes_nowhere_and_the_agent_is_told(
    dd_desk: Sandbox,
):
    sb = dd_desk
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    await sb.ding("zhang001", "#1001 您好,已为您查询")
    await sb.settle()
    told_before = len(sb.dingtalk.texts_to("zhang001"))
    audio = {"duration": 3000, "downloadCode": "dc-audio-1", "recognition": "明天送达"}
    file = {"spaceId": "2121", "fileName": "物流单.pdf", "downloadCode": "dc-file-1", "fileId": "f1"}
    for body in (
        sb.dd.body("zhang001", "", msgtype="audio", content=audio),
        sb.dd.body("zhang001", "", msgtype="file", content=file),
        sb.dd.body("zhang001", "", msgtype="interactiveCard", content={"cardTemplateId": "t1"}),
        sb.dd.body("zhang001", "#1001"),
        sb.dd.rich_text("zhang001", "#1001 "),
    ):
        await sb.dd.post(sb.http, body)
        await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING, "您好,已为您查询"]
    assert len(wechat_calls_to(sb, "o_zhangsan")) == 2, "nothing else, empty or not, went to the customer"
    assert await sb.kefu.store.dead_letters() == []
    told = sb.dingtalk.texts_to("zhang001")[told_before:]
    assert len(told) == 5, told
    voice, doc, unknown, bare, empty_rich = told
    assert "语音" in voice and "明天送达" in voice and "文字" in voice
    assert "文件" in doc and "文字" in doc
    assert "无法识别" in unknown and "文字" in unknown
    assert "#1001" in bare and "没有内容" in bare and "没有内容" in empty_rich


async def test_a_customers_picture_reaches_a_dingtalk_desk_as_its_labelled_line(dd_desk: Sandbox):
    sb = dd_desk
    sb.wechat.media["wx-pic-1"] = b"\xff\xd8 customer photo"
    fields = {"PicUrl": "http://mmbiz.qpic.cn/p.jpg", "MediaId": "wx-pic-1", "MsgId": 5}
    await sb.customer.post(sb.http, sb.customer.xml("o_zhangsan", "image", fields))
    await sb.settle()
    assert sb.dingtalk.texts_to("zhang001")[-1] == "#1001 张三 (公众号): [图片] http://mmbiz.qpic.cn/p.jpg"
    relays = [r for r in await sb.kefu.store.transcript() if r["purpose"] == "relay"]
    assert [r["status"] for r in relays] == ["sent"], "one line, no picture delivery"
    assert await sb.kefu.store.dead_letters() == []


async def test_a_dingtalk_customers_rich_text_and_picture_reach_a_wecom_agent_as_lines(dd_customers: Sandbox):
    sb = dd_customers
    await sb.dd.post(sb.http, sb.dd.rich_text("c_wu", "合同在这里", "pic:dc-contract-1", "请确认"))
    await sb.settle()
    picture = {"pictureDownloadCode": "pdc-2", "downloadCode": "dc-2"}
    await sb.dd.post(sb.http, sb.dd.body("c_wu", "", msgtype="picture", content=picture))
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == [
        "#1001 吴经理 (钉钉): 合同在这里\n请确认 [图片]",
        "#1001 吴经理 (钉钉): [图片]",
    ]
    assert [c for c in sb.wecom.sent(APP_SEND) if c.body["msgtype"] != "text"] == []
    assert await sb.kefu.store.dead_letters() == []


async def test_a_wecom_agents_picture_for_a_dingtalk_customer_stays_and_the_agent_is_told(dd_customers: Sandbox):
    sb = dd_customers
    await sb.ding("c_wu", "你好,想问一下合同的事")
    await sb.settle()
    await sb.say("lixiaoli", "#1001 您好,合同明天寄出")
    await sb.settle()
    sb.wecom.media["wecom-upload-1"] = b"\x89PNG agent picture"
    await sb.desk.post(sb.http, sb.desk.image_xml("lixiaoli", "wecom-upload-1", 99))
    await sb.settle()
    assert sb.dingtalk.texts_to("c_wu") == [GREETING, "您好,合同明天寄出"]
    assert "图片暂时无法发给钉钉的客户,请用文字说明" in sb.wecom.texts_to("lixiaoli")[-1]
    assert await sb.kefu.store.dead_letters() == []


async def test_dingtalk_declares_no_picture_abilities_and_refuses_a_picture_send(dd_desk: Sandbox):
    sb = dd_desk
    assert DingTalkAdapter.abilities == frozenset()
    assert sb.kefu.directory.carries_images("mp", "dd") is False
    calls = len(sb.dingtalk.calls)
    with pytest.raises(PlatformError, match="only text") as refused:
        await sb.kefu.adapters["dd"].send(Delivery(account="dd", to="zhang001", kind="image", media="m1"))
    assert "image" in str(refused.value)
    assert len(sb.dingtalk.calls) == calls, "nothing reached DingTalk"
