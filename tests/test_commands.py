"""Desk commands from WeCom: each does what it says; a non-agent's command does nothing."""

from __future__ import annotations

from adapters.sandbox import Sandbox
from adapters.wecom.emulator import APP_SEND
from handlers.commands import HELP


async def _with_two_customers(sb: Sandbox) -> None:
    """小李 has 张三 (#1001); 小王 has 李四 (#1002)."""
    await sb.write("o_zhangsan", "我的订单还没到")
    await sb.settle()
    await sb.write("o_lisi", "想咨询一下退货")
    await sb.settle()


async def last(sb: Sandbox, user: str, command: str) -> str:
    await sb.say(user, command)
    await sb.settle()
    return sb.wecom.texts_to(user)[-1]


async def test_help_and_unknown_commands_get_the_help_text(local_sandbox: Sandbox):
    sb = local_sandbox
    assert await last(sb, "lixiaoli", "/help") == HELP
    assert await last(sb, "lixiaoli", "/frobnicate #1001") == HELP
    assert "/transfer #1024 小王" in HELP


async def test_list_shows_mine_and_waiting(sandbox_two):
    sb = sandbox_two
    await _with_two_customers(sb)
    await sb.write("o_wangwu", "你好")  # 小李 is full (capacity 1): 王五 waits
    await sb.settle()
    assert await last(sb, "lixiaoli", "/list") == (
        "我的会话 (1/1):\n  #1001 张三 (公众号) 已等待 0 分钟\n等待接入 (1):\n  1. #1003 王五 (公众号) 已等待 0 分钟"
    )


async def test_claim_takes_a_waiting_customer_with_their_history(sandbox_two):
    sb = sandbox_two
    await _with_two_customers(sb)
    await sb.write("o_wangwu", "你好,在吗")
    await sb.settle()
    told = await last(sb, "wangxiaowang", "/claim !#1003")  # 小王 is full (capacity 1): forced
    assert told.startswith("已为您接入 #1003 王五 (公众号)\n") and "王五: 你好,在吗\n" in told
    await sb.write("o_wangwu", "我想改地址")
    await sb.settle()
    assert sb.wecom.texts_to("wangxiaowang")[-1] == "#1003 王五 (公众号): 我想改地址"
    assert await last(sb, "lixiaoli", "/claim #1003") == "#1003 正由 小王 接待;如需接手请让对方 /transfer。"
    assert await last(sb, "lixiaoli", "/claim #4242") == "未找到进行中的工单 #4242,请检查工单号"


async def test_transfer_hands_the_conversation_over(sandbox_two):
    sb = sandbox_two
    await _with_two_customers(sb)
    assert await last(sb, "lixiaoli", "/transfer #1001 !小王") == "#1001 已转给 小王。"  # 小王 is full: forced
    got = sb.wecom.texts_to("wangxiaowang")[-1]
    assert got.startswith("小李 转给您 #1001 张三 (公众号)\n") and got.endswith("张三: 我的订单还没到")
    assert sb.wechat.texts_to("o_zhangsan")[-1] == "正在为您转接其他客服,请稍候"
    await sb.write("o_zhangsan", "好的")
    await sb.settle()
    assert sb.wecom.texts_to("wangxiaowang")[-1] == "#1001 张三 (公众号): 好的"
    assert sb.wecom.texts_to("lixiaoli")[-1] == "#1001 已转给 小王。", "no longer relayed to 小李"
    assert await last(sb, "lixiaoli", "/transfer #1002 小张") == "没有名为 小张 的客服。客服有: 小李、小王"
    assert await last(sb, "wangxiaowang", "/transfer #1002 小王") == "#1002 已是您的会话。"


async def test_transfer_to_an_offline_agent_is_refused(sandbox_two):
    sb = sandbox_two
    await _with_two_customers(sb)
    await sb.say("wangxiaowang", "下线")
    await sb.settle()
    assert await last(sb, "lixiaoli", "/transfer #1001 小王") == "小王 不在线,无法转接。发送 /status 查看在线客服。"


async def test_close_ends_the_conversation_and_the_next_message_opens_a_new_one(sandbox_two):
    sb = sandbox_two
    await _with_two_customers(sb)
    await sb.say("lixiaoli", "#1001 您好,已为您查询,明天送达")
    assert await last(sb, "lixiaoli", "/close #1001") == "#1001 张三 已结束。"
    assert sb.wechat.texts_to("o_zhangsan")[-1].startswith("本次服务已结束,请您为本次服务打分")  # the survey
    assert await last(sb, "lixiaoli", "#1001 还在吗") == "未找到进行中的工单 #1001,请检查工单号"
    assert await last(sb, "wangxiaowang", "/close #1001") == "未找到进行中的工单 #1001,请检查工单号"
    assert await last(sb, "lixiaoli", "/close #1002") == "#1002 正由 小王 接待,只有接待的客服可以结束。"
    await sb.write("o_zhangsan", "又有个问题")
    await sb.settle()
    assert sb.wechat.texts_to("o_zhangsan")[-1] == "您好,我是在线客服,很高兴为您服务"
    assert sb.wecom.texts_to("lixiaoli")[-1] == "#1003 张三 (公众号): 又有个问题", "back to the agent who served them"


async def test_close_without_a_ticket_closes_the_current_conversation(sandbox_two):
    sb = sandbox_two
    await _with_two_customers(sb)
    await sb.say("lixiaoli", "#1001 您好,已为您查询,明天送达")
    assert await last(sb, "lixiaoli", "/close") == "#1001 张三 已结束。"


async def test_history_shows_the_last_messages(sandbox_two):
    sb = sandbox_two
    await _with_two_customers(sb)
    await sb.say("lixiaoli", "#1001 您好,正在为您查询")
    await sb.settle()
    told = await last(sb, "lixiaoli", "/history #1001")
    lines = told.split("\n")
    assert lines[0] == "#1001 张三 最近的消息:"
    assert [line.split(" ", 4)[-1] for line in lines[1:]] == ["张三: 我的订单还没到", "客服: 您好,正在为您查询"]


async def test_status_lists_who_is_online_and_their_load(sandbox_two):
    sb = sandbox_two
    await _with_two_customers(sb)
    await sb.say("wangxiaowang", "下线")
    await sb.settle()
    assert await last(sb, "lixiaoli", "/status") == "在线客服 (1):\n  小李: 1/1 个会话\n离线: 小王\n等待接入: 0 位客户"


async def test_a_command_is_not_relayed_and_a_non_agent_command_does_nothing(sandbox_two):
    sb = sandbox_two
    await _with_two_customers(sb)
    before = len(sb.wecom.sent(APP_SEND))
    for cmd in ("/list", "/close #1001", "/claim #1001", "/transfer #1001 小王", "上线"):
        await sb.say("intruder", cmd)
    await sb.settle()
    assert len(sb.wecom.sent(APP_SEND)) == before
    assert (await sb.kefu.store.by_ticket(1001)).status == "open"
    await sb.say("lixiaoli", "/list")
    await sb.say("lixiaoli", "#1001 /close")
    await sb.settle()
    assert not any("/" in t for t in sb.wechat.texts_to("o_zhangsan"))


async def test_online_and_offline_words(sandbox_two):
    sb = sandbox_two
    assert await last(sb, "lixiaoli", "/off") == "小李,您已下线。"
    assert await last(sb, "lixiaoli", "下线") == "您当前不在线。发送 上线 开始接待。"
    assert (await last(sb, "lixiaoli", "/on")).startswith("小李,您已上线")
    assert await last(sb, "lixiaoli", "上线") == "您已在线。"
