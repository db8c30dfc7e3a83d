"""Every customer-side channel reaches an agent on every desk platform and gets the answer back:
QQ (OneBot), QQ (official), WeCom 微信客服 and DingTalk customers × WeCom, DingTalk and QQ-group
desks, each through its platform's own signed traffic on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest

from adapters.dingtalk.emulator import DingTalkEmulator, DingTalkPusher
from adapters.qq.official.emulator import QQBotEmulator, QQBotPusher
from adapters.qq.onebot.emulator import OneBotEmulator
from adapters.sandbox import Sandbox
from adapters.wechat.emulator import new_aes_key
from adapters.wecom_kf.emulator import WeComKfEmulator, WeComKfPusher

CUSTOMERS = ["qq_onebot", "qq_official", "wecom_kf", "dingtalk"]
DESKS = ["wecom", "dingtalk", "qq_group"]
DESK_GROUP, AGENT_QQ = 20001, 10001
_ids = itertools.count(1)


@dataclass
class Channel:
    """One customer-side account: how a customer writes, and what reached them."""

    account: dict[str, Any]
    emulator: Any
    write: Any = None  # async (sb, text) -> None
    received: Any = None  # () -> list[str]
    extra: list[Any] = field(default_factory=list)


async def customer_channel(kind: str) -> Channel:
    if kind == "qq_onebot":
        emu = OneBotEmulator(3_000_000_001, "tok", "onebot-secret")
        await emu.start()
        acc = {
            "name": "cq",
            "platform": "qq",
            "role": "customer",
            "protocol": "onebot",
            "access_token": "tok",
            "secret": "onebot-secret",
            "api_url": emu.base_url,
        }
        ch = Channel(acc, emu)
        ch.write = lambda sb, text: emu.post(sb.http, f"{sb.base_url}/qq/cq", emu.private(12345, text, nickname="小明"))
        ch.received = lambda: emu.texts_to(12345)
        return ch
    if kind == "qq_official":
        emu = QQBotEmulator("102000001", "naOC0ocQE3shWLAfffVLB1rhYPG7")
        await emu.start()
        acc = {
            "name": "cbot",
            "platform": "qq",
            "role": "customer",
            "protocol": "official",
            "app_id": "102000001",
            "app_secret": "naOC0ocQE3shWLAfffVLB1rhYPG7",
            "api_base_url": emu.base_url,
            "token_url": emu.token_url,
        }
        ch = Channel(acc, emu)

        async def write(sb: Sandbox, text: str) -> Any:
            pusher = QQBotPusher(f"{sb.base_url}/qq/cbot", "102000001", "naOC0ocQE3shWLAfffVLB1rhYPG7", emu)
            return await pusher.post(sb.http, pusher.c2c("openid-xm", text))

        ch.write, ch.received = write, lambda: emu.texts_to("openid-xm")
        return ch
    if kind == "wecom_kf":
        emu = WeComKfEmulator("wwcorp", "kf-secret", "wkKFID", nicknames={"wm_xm": "小明"})
        await emu.start()
        key = new_aes_key()
        acc = {
            "name": "ckf",
            "platform": "wecom_kf",
            "role": "customer",
            "corp_id": "wwcorp",
            "secret": "kf-secret",
            "token": "kftoken",
            "encoding_aes_key": key,
            "open_kfid": "wkKFID",
            "api_base_url": emu.base_url,
        }
        ch = Channel(acc, emu)

        async def write(sb: Sandbox, text: str) -> Any:
            emu.customer_writes("wm_xm", text)
            pusher = WeComKfPusher(f"{sb.base_url}/wecom_kf/ckf", "kftoken", key, "wwcorp", open_kfid="wkKFID")
            return await pusher.notify(sb.http, emu.sync_token())

        ch.write, ch.received = write, lambda: emu.texts_to("wm_xm")
        return ch
    emu = DingTalkEmulator("ding-customer-key", "ding-customer-secret")
    await emu.start()
    acc = {
        "name": "cdd",
        "platform": "dingtalk",
        "role": "customer",
        "app_key": "ding-customer-key",
        "app_secret": "ding-customer-secret",
        "api_base_url": emu.base_url,
    }
    ch = Channel(acc, emu)

    async def write(sb: Sandbox, text: str) -> Any:
        pusher = DingTalkPusher(
            f"{sb.base_url}/dingtalk/cdd",
            "ding-customer-secret",
            emu,
            "ding-customer-key",
            staff_names={"c_xm": "小明"},
        )
        return await pusher.post(sb.http, pusher.body("c_xm", text))

    ch.write, ch.received = write, lambda: emu.texts_to("c_xm")
    return ch


class Desk:
    """One desk platform with one agent on it: going online, what reached them, answering."""

    def __init__(self, kind: str, sb: Sandbox, qq: OneBotEmulator):
        self.kind, self.sb, self.qq = kind, sb, qq

    async def online(self) -> None:
        await self.say("上线")

    def received(self) -> list[str]:
        if self.kind == "wecom":
            return self.sb.wecom.texts_to("lixiaoli")
        if self.kind == "dingtalk":
            return self.sb.dingtalk.texts_to("zhang001")
        return self.qq.group_texts(DESK_GROUP)

    async def say(self, text: str) -> None:
        sb = self.sb
        if self.kind == "wecom":
            await sb.say("lixiaoli", text)
        elif self.kind == "dingtalk":
            await sb.ding("zhang001", text)
        elif text == "上线":  # presence in the 1:1 chat, answers in the desk group
            await self.qq.post(sb.http, f"{sb.base_url}/qq/qqdesk", self.qq.private(AGENT_QQ, text, nickname="小周"))
        else:
            event = self.qq.group(DESK_GROUP, AGENT_QQ, text, nickname="小周", message_id=next(_ids) + 500_000)
            await self.qq.post(sb.http, f"{sb.base_url}/qq/qqdesk", event)


@pytest.mark.parametrize("desk_kind", DESKS)
@pytest.mark.parametrize("customer_kind", CUSTOMERS)
async def test_a_customer_on_each_channel_reaches_an_agent_on_each_desk_and_back(
    tmp_path, customer_kind: str, desk_kind: str
):
    channel = await customer_channel(customer_kind)
    qq = OneBotEmulator(3_000_000_002, "desk-tok", "desk-secret")
    await qq.start()
    qq_desk = {
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
        agents={"小李": "lixiaoli"},
        dingtalk_role="desk",
        more_accounts=[channel.account, qq_desk],
        more_agents=[{"name": "小周", "ids": {"qqdesk": str(AGENT_QQ)}}],
    )
    try:
        async with sb:
            desk = Desk(desk_kind, sb, qq)
            await desk.online()
            await sb.settle()
            status, _ = await channel.write(sb, "请问订单什么时候发货")
            assert status in (200, 204)
            await sb.settle()
            relay = [t for t in desk.received() if t.endswith(": 请问订单什么时候发货")]
            assert len(relay) == 1, desk.received()
            ticket = relay[0].split()[0]
            await desk.say(f"{ticket} 您好,订单明天发货")
            await sb.settle()
            for _ in range(50):  # a platform answered in a background task may need a moment
                if "您好,订单明天发货" in channel.received():
                    break
                await asyncio.sleep(0.02)
            assert channel.received()[-1] == "您好,订单明天发货", channel.received()
    finally:
        await channel.emulator.stop()
        await qq.stop()
