"""WeCom 微信客服 (customer role), through real HTTP on 127.0.0.1: encrypted callbacks that only say
"pull", sync_msg pages from a persisted cursor (empty pages included), replies within the platform's
48 h / 5-message limits, and the session kept with kefu (the smart assistant) so the API may send."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from loguru import logger

from adapters.sandbox import Sandbox
from adapters.wechat.emulator import new_aes_key
from adapters.wecom_kf.emulator import SEND, SEND_ON_EVENT, STATE_GET, STATE_TRANS, SYNC, WeComKfEmulator, WeComKfPusher
from bot.model import Delivery

GREETING = "您好,我是在线客服,很高兴为您服务"
CORP, SECRET, KFID = "ww0123456789abcdef", "kf-secret-0001", "wkAbCdEf0123456789"
TOKEN = "kftoken123"


class KfSandbox(Sandbox):
    """The sandbox plus a 微信客服 account "kf" on its own emulator."""

    kf: WeComKfEmulator
    kf_key: str

    def pusher(self) -> WeComKfPusher:  # kefu's port changes on every start
        return WeComKfPusher(f"{self.base_url}/wecom_kf/kf", TOKEN, self.kf_key, CORP, open_kfid=KFID)

    async def notify(self, token: str | None = None) -> tuple[int, str]:
        assert self.http is not None
        return await self.pusher().notify(self.http, token or self.kf.sync_token())

    async def kf_write(self, user: str, *texts: str, **kw: float) -> None:
        """A WeChat user writes to the kf account; WeCom calls back; kefu pulls and handles it."""
        for text in texts:
            self.kf.customer_writes(user, text, **kw)
        assert await self.notify() == (200, "")
        await self.settle()


async def make(
    tmp_path, page_size: int = 1000, bus: str = "memory://", storage: str = "", extra: dict | None = None
) -> KfSandbox:
    kf = WeComKfEmulator(CORP, SECRET, KFID, page_size=page_size, nicknames={"wm_zhang": "张三", "wm_li": "李四"})
    await kf.start()  # first, so its URL can go into the config
    key = new_aes_key()
    sb = KfSandbox(
        storage=storage or f"sqlite:///{tmp_path / 'kefu.db'}",
        bus=bus,
        extra=extra or {},
        more_accounts=[
            {
                "name": "kf",
                "platform": "wecom_kf",
                "role": "customer",
                "corp_id": CORP,
                "secret": SECRET,
                "token": TOKEN,
                "encoding_aes_key": key,
                "open_kfid": KFID,
                "api_base_url": kf.base_url,
            }
        ],
    )
    sb.kf, sb.kf_key = kf, key
    return await sb.start()  # type: ignore[return-value]


@pytest.fixture
async def kfsb(tmp_path) -> AsyncIterator[KfSandbox]:
    sb = await make(tmp_path)
    try:
        yield sb
    finally:
        await sb.stop()
        await sb.kf.stop()


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """kefu's warning log lines while the test runs."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    yield lines
    logger.remove(sink)


@pytest.fixture
async def kf_engines(tmp_path, engines: tuple[str, str]) -> AsyncIterator[KfSandbox]:
    """On both engine pairs: the pull lock and the reply counts live in Redis/PostgreSQL there."""
    bus, storage = engines
    sb = await make(tmp_path, bus=bus, storage=storage)
    try:
        yield sb
    finally:
        await sb.stop()
        await sb.kf.stop()


async def test_a_kf_customer_reaches_a_wecom_agent_and_kefu_keeps_the_session(kf_engines: KfSandbox):
    sb = kf_engines
    await sb.kf_write("wm_zhang", "你好,我的订单还没到")
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 张三 (微信客服): 你好,我的订单还没到"]
    assert sb.kf.texts_to("wm_zhang") == [GREETING]
    # kefu answers first (the greeting), so it takes the new session as the smart assistant: 0 -> 1
    assert [c.body for c in sb.kf.sent(STATE_TRANS)] == [
        {"open_kfid": KFID, "external_userid": "wm_zhang", "service_state": 1}
    ]

    await sb.say("lixiaoli", "#1001 您好,已为您查询,明天送达")
    await sb.settle()
    assert sb.kf.texts_to("wm_zhang") == [GREETING, "您好,已为您查询,明天送达"]
    assert sb.kf.sent(SEND)[-1].body == {
        "touser": "wm_zhang",
        "open_kfid": KFID,
        "msgtype": "text",
        "text": {"content": "您好,已为您查询,明天送达"},
    }
    assert sb.kf.states["wm_zhang"] == (1, ""), "never handed to a human: the API could not send then (95018)"
    assert len(sb.kf.sent(STATE_TRANS, accepted=False)) == 1
    # the session is kefu's: more replies ask nothing more
    await sb.say("lixiaoli", "#1001 还有其他问题吗")
    await sb.settle()
    assert len(sb.kf.sent(STATE_GET)) == 1 and len(sb.kf.sent(STATE_TRANS, accepted=False)) == 1
    assert sb.kf.texts_to("wm_zhang")[-1] == "还有其他问题吗"
    assert sb.kf.sent(SEND, accepted=False) == sb.kf.sent(SEND), "no send refused"


async def test_a_reply_to_a_session_a_servicer_took_is_refused_and_the_agent_is_told(kfsb: KfSandbox):
    sb = kfsb
    await sb.kf_write("wm_zhang", "你好,我要退货")
    sb.kf.servicer_takes("wm_zhang", "wangwu")  # in the WeCom client: state 3, the API may not send
    sb.kf.forget()
    await sb.say("lixiaoli", "#1001 您好,请提供订单号")
    await sb.settle()
    assert sb.kf.texts_to("wm_zhang") == []
    assert sb.kf.sent(STATE_TRANS, accepted=False) == [], "a servicer's session is not taken from them"
    assert sb.kf.states["wm_zhang"] == (3, "wangwu")
    told = sb.wecom.texts_to("lixiaoli")[-1]
    assert told.startswith("#1001 未送达 张三: ") and "95018" in told, told
    rows = [r for r in await sb.kefu.store.transcript() if r["direction"] == "out" and r["account"] == "kf"]
    assert rows[-1]["status"] == "held", "kept for when the customer writes again"
    assert await sb.kefu.store.dead_letters() == [], "the platform's rule, not a failure to retry"


async def test_closing_leaves_the_assistants_session_to_end_by_itself(kfsb: KfSandbox):
    sb = kfsb
    await sb.kf_write("wm_zhang", "你好,发票怎么开")
    await sb.say("lixiaoli", "#1001 您好,在订单页申请即可")
    await sb.settle()
    sb.kf.forget()
    await sb.say("lixiaoli", "/close #1001")
    await sb.settle()
    assert sb.kf.texts_to("wm_zhang")[-1].startswith("本次服务已结束"), "the survey went out"
    assert [c.path for c in sb.kf.calls if c.path != SEND] == [STATE_GET], "asked, after the survey was sent"
    assert sb.kf.states["wm_zhang"] == (1, ""), "the doc lets the API end only a session in state 3"

    await sb.kf_write("wm_zhang", "5")  # the rating, in the same platform session
    assert sb.kf.texts_to("wm_zhang")[-1] == "感谢您的评价,祝您生活愉快!"


async def test_a_session_a_servicer_took_as_the_closing_text_went_out_is_ended(kfsb: KfSandbox):
    sb = kfsb
    await sb.kf_write("wm_zhang", "好的,没有问题了")
    sb.kf.servicer_takes("wm_zhang", "wangwu", after_send=True)
    closing = "感谢您的咨询,祝您生活愉快!如有其他问题欢迎随时联系我们"
    assert sb.kefu is not None
    await sb.kefu.enqueue_delivery(Delivery(account="kf", to="wm_zhang", text=closing, purpose="closed"))
    await sb.settle()
    assert sb.kf.texts_to("wm_zhang")[-1] == closing
    assert [c.body["service_state"] for c in sb.kf.sent(STATE_TRANS)] == [1, 4], "0 -> 1 to send, then 3 -> 4"
    assert sb.kf.states["wm_zhang"] == (4, "")
    await sb.kf_write("wm_zhang", "还有一个问题")  # a new platform session (0); kefu takes it again to answer
    await sb.say("lixiaoli", "#1001 您好,请讲")
    await sb.settle()
    assert sb.kf.texts_to("wm_zhang")[-1] == "您好,请讲" and sb.kf.states["wm_zhang"] == (1, "")


async def test_messages_in_several_sync_pages_are_all_relayed_once_in_order(tmp_path):
    sb = await make(tmp_path, page_size=3)
    try:
        texts = [f"第{i}条消息" for i in range(1, 8)]
        await sb.kf_write("wm_zhang", *texts)
        relayed = sb.wecom.texts_to("lixiaoli")
        assert [t.split(": ", 1)[1] for t in relayed] == texts
        syncs = sb.kf.sent(SYNC)
        assert len(syncs) == 3, "7 messages, 3 a page: has_more twice"
        assert syncs[0].body["cursor"] == "" and all(c.body["cursor"] for c in syncs[1:])
        assert syncs[0].body["open_kfid"] == KFID and syncs[0].body["token"]
        await sb.kf_write("wm_zhang", "第8条消息")
        assert sb.wecom.texts_to("lixiaoli")[-1].endswith("第8条消息") and len(sb.wecom.texts_to("lixiaoli")) == 8
    finally:
        await sb.stop()
        await sb.kf.stop()


async def test_the_same_callback_three_times_gives_one_relay(kfsb: KfSandbox):
    sb = kfsb
    sb.kf.customer_writes("wm_zhang", "我的订单还没到")
    assert sb.http is not None
    query, body = sb.pusher().signed(sb.pusher().event_xml(sb.kf.sync_token()))

    async def post() -> int:
        async with sb.http.post(sb.pusher().url, params=query, data=body) as r:
            return r.status

    assert await asyncio.gather(post(), post(), post()) == [200, 200, 200]  # at once: one pull at a time
    assert await post() == 200  # and once more later
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 张三 (微信客服): 我的订单还没到"]
    rows = [r for r in await sb.kefu.store.transcript() if r["direction"] == "in" and r["account"] == "kf"]
    assert len(rows) == 1


async def test_a_restart_neither_fetches_twice_nor_skips(kfsb: KfSandbox):
    sb = kfsb
    await sb.kf_write("wm_zhang", "第一条", "第二条")
    await sb.stop_kefu()
    sb.kf.customer_writes("wm_zhang", "停机时的第三条")
    sb.kf.customer_writes("wm_zhang", "停机时的第四条")
    sb.kf.forget()

    await sb.start_kefu()  # presence is in storage: the agent is still online
    await sb.kf_write("wm_zhang", "重启后的第五条")
    first = sb.kf.sent(SYNC)[0]
    assert first.body["cursor"] and sb.kf.cursors[first.body["cursor"]] == 2, "resumed from the stored cursor"
    relayed = [t.split(": ", 1)[1] for t in sb.wecom.texts_to("lixiaoli") if ": " in t]
    assert relayed == ["第一条", "第二条", "停机时的第三条", "停机时的第四条", "重启后的第五条"]
    rows = [r for r in await sb.kefu.store.transcript() if r["direction"] == "in" and r["account"] == "kf"]
    assert len(rows) == 5


async def test_the_sixth_reply_without_a_customer_message_is_refused_and_the_agent_is_told(kfsb: KfSandbox):
    sb = kfsb
    await sb.kf_write("wm_zhang", "你好,请问在吗")  # the greeting is reply 1 of 5
    for i in range(2, 6):
        await sb.say("lixiaoli", f"#1001 您好,这是第{i}条回复")
    await sb.settle()
    assert len(sb.kf.texts_to("wm_zhang")) == 5
    await sb.say("lixiaoli", "#1001 您好,这是第6条回复")
    await sb.settle()
    assert len(sb.kf.texts_to("wm_zhang")) == 5
    assert len(sb.kf.sent(SEND, accepted=False)) == 5, "refused by kefu itself, not sent to fail"
    told = sb.wecom.texts_to("lixiaoli")[-1]
    assert told.startswith("#1001 未送达 张三: ") and "最多回复 5 条" in told and "5 replies" in told
    rows = [r for r in await sb.kefu.store.transcript() if r["direction"] == "out" and r["account"] == "kf"]
    assert rows[-1]["status"] == "held" and "5 replies" in rows[-1]["error"]
    conv = await sb.kefu.store.by_ticket(1001)
    assert conv is not None and "5 replies" in conv.unreachable, "the conversation is marked"
    assert await sb.kefu.store.dead_letters() == [], "a platform's rule, not a failure to retry"

    await sb.kf_write("wm_zhang", "好的,谢谢")  # the customer writes: five more allowed
    await sb.say("lixiaoli", "#1001 不客气,祝您生活愉快")
    await sb.settle()
    assert sb.kf.texts_to("wm_zhang")[-2:] == ["您好,这是第6条回复", "不客气,祝您生活愉快"], "the kept one first"
    conv = await sb.kefu.store.by_ticket(1001)
    assert conv is not None and conv.unreachable == ""


async def test_no_reply_more_than_48_hours_after_the_customer_last_wrote(kfsb: KfSandbox):
    sb = kfsb
    await sb.kf_write("wm_li", "两天前的留言", sent_at=time.time() - 49 * 3600)
    assert sb.wecom.texts_to("lixiaoli")[-1] == "#1001 李四 (微信客服): 两天前的留言"
    await sb.say("lixiaoli", "#1001 您好,抱歉回复晚了")
    await sb.settle()
    assert sb.kf.texts_to("wm_li") == [] and sb.kf.sent(SEND, accepted=False) == []
    assert "48 h" in sb.wecom.texts_to("lixiaoli")[-1]


async def test_entering_the_chat_is_greeted_with_the_welcome_code(kfsb: KfSandbox):
    sb = kfsb
    code = sb.kf.customer_enters("wm_li", scene="order_page")
    assert await sb.notify() == (200, "")
    await sb.settle()
    assert sb.kf.texts_to("wm_li") == [GREETING], "sent with send_msg_on_event, before the customer wrote"
    assert [c.body["code"] for c in sb.kf.sent(SEND_ON_EVENT)] == [code] and sb.kf.sent(SEND) == []
    await sb.kf_write("wm_li", "请问怎么退货")
    assert sb.kf.texts_to("wm_li") == [GREETING], "the same conversation: not greeted twice"
    assert sb.wecom.texts_to("lixiaoli")[-1].endswith("请问怎么退货")


async def test_the_welcome_code_carries_only_the_greeting(tmp_path):
    sb = await make(tmp_path, extra={"messages": {"greeting": ""}})
    try:
        sb.kf.customer_enters("wm_li")
        assert await sb.notify() == (200, "")
        await sb.settle()
        assert sb.kefu is not None
        await sb.kefu.enqueue_delivery(Delivery(account="kf", to="wm_li", text="您好,有什么可以帮您", purpose="auto"))
        await sb.settle()
        assert sb.kf.sent(SEND_ON_EVENT, accepted=False) == [] and sb.kf.sent(SEND, accepted=False) == []
        assert sb.kf.texts_to("wm_li") == [], "refused by kefu: the customer has not written yet"
    finally:
        await sb.stop()
        await sb.kf.stop()


async def test_a_welcome_code_older_than_20_seconds_is_not_tried(kfsb: KfSandbox):
    sb = kfsb
    sb.kf.customer_enters("wm_li", sent_at=time.time() - 25)  # the callback came late
    assert await sb.notify() == (200, "")
    await sb.settle()
    assert sb.kf.sent(SEND_ON_EVENT, accepted=False) == [] and sb.kf.texts_to("wm_li") == []


async def test_messages_after_an_empty_sync_page_are_relayed_without_another_callback(kfsb: KfSandbox):
    sb = kfsb
    sb.kf.empty_pages()  # the very first page is empty, yet has more
    sb.kf.customer_writes("wm_zhang", "第一条")
    sb.kf.empty_pages(2)
    sb.kf.customer_writes("wm_zhang", "第二条")
    assert await sb.notify() == (200, "")
    await sb.settle()
    relayed = [t.split(": ", 1)[1] for t in sb.wecom.texts_to("lixiaoli")]
    assert relayed == ["第一条", "第二条"]
    syncs = sb.kf.sent(SYNC)
    assert len(syncs) == 5 and len({c.body["cursor"] for c in syncs}) == 5, "each page from the cursor before it"


async def test_a_platform_that_never_stops_answering_empty_pages_is_left_after_a_bound(
    kfsb: KfSandbox, warnings: list[str]
):
    sb = kfsb
    sb.kf.empty_pages(1000)
    sb.kf.customer_writes("wm_zhang", "在空页之后")
    assert await sb.notify() == (200, "")
    await sb.settle()
    pages = len(sb.kf.sent(SYNC))
    assert 1 < pages <= 50, "went on past an empty page, but not for ever"
    assert any("empty" in w and "has_more" in w for w in warnings), warnings
    assert sb.wecom.texts_to("lixiaoli") == []
    assert await sb.notify() == (200, "")  # the next callback goes on from where this one stopped
    await sb.settle()
    assert sb.kf.cursors[sb.kf.sent(SYNC)[pages].body["cursor"]] == pages


async def test_wrong_signature_is_refused_and_nothing_is_pulled(kfsb: KfSandbox):
    sb = kfsb
    assert sb.http is not None
    sb.kf.customer_writes("wm_zhang", "你好")
    p = sb.pusher()
    query, body = p.signed(p.event_xml(sb.kf.sync_token()))
    async with sb.http.post(p.url, params={**query, "msg_signature": "0" * 40}, data=body) as r:
        assert r.status == 403
    other = WeComKfPusher(p.url, "another-token", sb.kf_key, CORP, open_kfid=KFID)
    assert (await other.notify(sb.http, sb.kf.sync_token()))[0] == 403
    assert (await other.verify(sb.http))[0] == 403
    assert await p.verify(sb.http, "echo-kf-1") == (200, "echo-kf-1")
    await sb.settle()
    assert sb.kf.sent(SYNC, accepted=False) == [] and sb.wecom.texts_to("lixiaoli") == []
