"""Pictures cross platforms: downloaded from one platform's media API, uploaded to the other's."""

from __future__ import annotations

from adapters.sandbox import Sandbox
from adapters.wechat.emulator import CS_SEND
from adapters.wecom.emulator import APP_SEND


async def test_an_agents_picture_reaches_the_customer_as_a_picture(local_sandbox: Sandbox):
    sb = local_sandbox
    await sb.customer.post(sb.http, sb.customer.text_xml("o_zhangsan", "能发个图吗", 1))
    await sb.settle()
    sb.wecom.media["wecom-upload-1"] = b"\x89PNG agent picture"
    await sb.desk.post(sb.http, sb.desk.text_xml("lixiaoli", "#1001 您好,请看图", 2))
    await sb.desk.post(sb.http, sb.desk.image_xml("lixiaoli", "wecom-upload-1", 3))
    await sb.settle()
    image = [c.body for c in sb.wechat.sent(CS_SEND) if c.body["msgtype"] == "image"]
    assert len(image) == 1 and image[0]["touser"] == "o_zhangsan"
    assert sb.wechat.media[image[0]["image"]["media_id"]] == b"\x89PNG agent picture"


async def test_a_customers_picture_reaches_the_agent_with_its_line(local_sandbox: Sandbox):
    sb = local_sandbox
    sb.wechat.media["wx-pic-1"] = b"\xff\xd8 customer photo"
    xml = sb.customer.xml(
        "o_zhangsan", "image", {"PicUrl": "http://mmbiz.qpic.cn/p.jpg", "MediaId": "wx-pic-1", "MsgId": 5}
    )
    await sb.customer.post(sb.http, xml)
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 张三 (公众号): [图片] http://mmbiz.qpic.cn/p.jpg"]
    images = [
        c.body for c in sb.wecom.sent(APP_SEND) if c.body["msgtype"] == "image" and c.body["touser"] == "lixiaoli"
    ]
    assert len(images) == 1
    assert sb.wecom.media[images[0]["image"]["media_id"]] == b"\xff\xd8 customer photo"
