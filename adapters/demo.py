"""`kefu demo`: a scripted exchange between an emulated WeChat customer and a WeCom agent."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from adapters.sandbox import Sandbox
from bot.log import setup_logging
from bot.registry import Command

__all__ = ["play", "COMMAND"]

CUSTOMER, NAME, AGENT = "oDemo_zhangsan_openid", "张三", "lixiaoli"


def _say(who: str, text: str) -> None:
    print(f"  {who:<22} {text}")


async def play(storage: str = "", bus: str = "memory://") -> int:
    with tempfile.TemporaryDirectory() as tmp:
        storage = storage or f"sqlite:///{Path(tmp) / 'demo.db'}"
        sb = Sandbox(storage=storage, bus=bus, nicknames={CUSTOMER: NAME}, agents={"小李": AGENT}, online=[])
        async with sb:
            print(f"kefu is up at {sb.base_url}  (storage {storage.split('///')[-1]}, bus {bus})")
            print(f"emulated WeChat API at {sb.wechat.base_url}, WeCom API at {sb.wecom.base_url}\n")
            c, d, h = sb.customer, sb.desk, sb.http
            assert h is not None
            status, _ = await c.verify(h)
            print(f"WeChat URL verification: HTTP {status};  WeCom: HTTP {(await d.verify(h))[0]}\n")

            seen_wx, seen_wc = 0, 0

            async def show() -> None:
                nonlocal seen_wx, seen_wc
                await sb.settle()
                for text in sb.wechat.texts_to(CUSTOMER)[seen_wx:]:
                    _say("kefu -> 张三 (WeChat):", text)
                for text in sb.wecom.texts_to(AGENT)[seen_wc:]:
                    _say("kefu -> 小李 (WeCom):", text)
                seen_wx, seen_wc = len(sb.wechat.texts_to(CUSTOMER)), len(sb.wecom.texts_to(AGENT))

            print("The conversation, as each side sees it:")
            _say("小李 (WeCom):", "上线")
            await d.post(h, d.text_xml(AGENT, "上线", int(time.time() * 1000) - 1))
            await show()
            _say("张三 follows the account", "(subscribe event, safe mode, AES-encrypted)")
            await c.post(h, c.event_xml(CUSTOMER, "subscribe"))
            await show()
            _say("张三 (WeChat):", "我的订单还没到")
            await c.post(h, c.text_xml(CUSTOMER, "我的订单还没到", int(time.time() * 1000)))
            await show()
            ticket = sb.wecom.texts_to(AGENT)[-1].split()[0]
            answer = f"{ticket} 您好,已为您查询,明天送达"
            _say("小李 (WeCom):", answer)
            await d.post(h, d.text_xml(AGENT, answer, int(time.time() * 1000) + 1))
            await show()
            _say("小李 (WeCom):", "请问还有其他可以帮您的吗?   (no ticket: goes to 小李's current conversation)")
            await d.post(h, d.text_xml(AGENT, "请问还有其他可以帮您的吗?", int(time.time() * 1000) + 2))
            await show()

            assert sb.kefu is not None
            print("\nThe transcript (every message both ways, with its delivery result):")
            print(f"  {'#':>3} {'dir':<3} {'account':<7} {'party':<22} {'purpose':<9} {'status':<8} text")
            for r in await sb.kefu.store.transcript():
                print(
                    f"  {r['id']:>3} {r['direction']:<3} {r['account']:<7} {r['party']:<22} "
                    f"{r['purpose'] or '-':<9} {r['status']:<8} {r['text']}"
                )
            print("\nNext: copy config/kefu.example.yaml, fill in your accounts, run `kefu run --config kefu.yaml`.")
    await asyncio.sleep(0)
    return 0


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", default="", help="storage URL (default: a temporary SQLite file)")
    p.add_argument("--bus", default="memory://", help="bus URL (default memory://)")


async def _demo(args: argparse.Namespace) -> int:
    setup_logging("WARNING")
    return await play(storage=args.storage, bus=args.bus)


COMMAND = Command("demo", "a scripted exchange against emulated WeChat and WeCom", _arguments, _demo)
