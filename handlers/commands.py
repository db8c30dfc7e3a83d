"""Desk commands, from any desk IM: /list /claim /transfer /close /history /status /help.

A command is never relayed to a customer; an unknown one gets the help text; a command from
anyone who is not a configured agent does nothing. /claim and /transfer stop at the agent's
capacity unless forced with quality.override_prefix.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from bot.chain import Context
from bot.config import AgentConfig
from bot.model import Conversation
from handlers import assignment, handover, presence, survey

__all__ = ["run", "HELP", "help_text"]

_HELP = """可用命令:
上线 / 下线 (或 /on /off): 开始或结束接待
/list: 我的会话和等待中的客户
/claim #1024: 接入一位客户 (已满时 /claim {force}#1024 仍接入)
/transfer #1024 小王: 转给其他客服 (对方已满时 /transfer #1024 {force}小王)
/close #1024: 结束会话
/history #1024: 最近的消息
/status: 在线客服及各自的会话数
/handover: 未结束会话的交接汇总
/q 退货: 发送快捷短语 (/q 查看全部)
/faq 12: 发送知识库第 12 条的答案 (见转发中的 💡 提示)
/help: 本说明
回复客户: #1024 您好…… (不带工单号则发给您当前的会话)"""
HELP = _HELP.format(force="!")  # with the default quality.override_prefix

_TICKET = re.compile(r"^[#＃]?(\d{1,9})$")
Command = Callable[[Context, AgentConfig, list[str]], Awaitable[None]]


async def _target(ctx: Context, agent: AgentConfig, args: list[str]) -> Conversation | None:
    """The conversation a command names (#1024), or the agent's current one; tells them if none."""
    if args and (m := _TICKET.match(args[0])):
        conv = await ctx.store.by_ticket(int(m.group(1)))
        if conv is None or conv.status != "open":
            ctx.tell_agent(agent, ctx.config.messages.unknown_ticket.format(ticket=m.group(1)))
            return None
        return conv
    current = await ctx.store.current_of(agent.name)
    conv = await ctx.store.conversation(current) if current else None
    if conv is None or conv.status != "open":
        ctx.tell_agent(agent, "请指明工单号,例如: /close #1024")
        return None
    return conv


def help_text(ctx: Context) -> str:
    return _HELP.format(force=ctx.config.quality.override_prefix)


def _forced(ctx: Context, args: list[str]) -> tuple[bool, list[str]]:
    """The override prefix on an argument ("/claim !#1024", "/transfer #1024 !小王") forces past capacity."""
    prefix = ctx.config.quality.override_prefix
    forced = any(a.startswith(prefix) for a in args)
    args = [a[len(prefix) :] if a.startswith(prefix) else a for a in args]
    return forced, [a for a in args if a]


async def _full(ctx: Context, agent: AgentConfig) -> str:
    """Why the agent can take no more conversations ('' if they can)."""
    held = (await ctx.store.load()).get(agent.name, 0)
    return f"{agent.name} 已有 {held}/{agent.capacity} 个会话,无法再接入" if held >= agent.capacity else ""


def _line(ctx: Context, conv: Conversation) -> str:
    label = ctx.directory.label(conv.account)
    line = f"#{conv.ticket} {conv.customer_name} ({label})"
    if conv.waiting_since is not None:
        line += f" 已等待 {int((ctx.now - conv.waiting_since) // 60)} 分钟"
    if conv.unreachable:
        line += " ⚠️ 暂时无法发送,等客户再次来信"
    return line


async def cmd_list(ctx: Context, agent: AgentConfig, args: list[str]) -> None:
    mine = await ctx.store.of_agent(agent.name)
    waiting = await ctx.store.waiting()
    lines = [f"我的会话 ({len(mine)}/{agent.capacity}):"]
    lines += [f"  {_line(ctx, c)}" for c in mine] or ["  (无)"]
    lines.append(f"等待接入 ({len(waiting)}):")
    lines += [f"  {i + 1}. {_line(ctx, c)}" for i, c in enumerate(waiting)] or ["  (无)"]
    ctx.tell_agent(agent, "\n".join(lines))


async def cmd_claim(ctx: Context, agent: AgentConfig, args: list[str]) -> None:
    forced, args = _forced(ctx, args)
    conv = await _target(ctx, agent, args)
    if conv is None:
        return
    if not await presence.is_online(ctx, agent.name):
        ctx.tell_agent(agent, "请先发送 上线 再接入客户。")
        return
    if conv.agent == agent.name:
        ctx.tell_agent(agent, f"#{conv.ticket} 已是您的会话。")
        return
    if conv.agent and await presence.is_online(ctx, conv.agent):
        ctx.tell_agent(agent, f"#{conv.ticket} 正由 {conv.agent} 接待;如需接手请让对方 /transfer。")
        return
    if not forced and (full := await _full(ctx, agent)):
        prefix = ctx.config.quality.override_prefix
        ctx.tell_agent(agent, f"{full}。如确需接入,请发送 /claim {prefix}#{conv.ticket}")
        return
    await assignment.assign(ctx, conv, agent)
    await assignment.fill_queue(ctx)  # positions behind it moved up


async def cmd_transfer(ctx: Context, agent: AgentConfig, args: list[str]) -> None:
    forced, args = _forced(ctx, args)
    if len(args) < 1:
        ctx.tell_agent(agent, "用法: /transfer #1024 小王")
        return
    name = args[-1]
    conv = await _target(ctx, agent, args[:-1])
    if conv is None:
        return
    target = ctx.directory.agent(name)
    if target is None:
        names = "、".join(a.name for a in ctx.config.agents)
        ctx.tell_agent(agent, f"没有名为 {name} 的客服。客服有: {names}")
        return
    if target.name == agent.name:
        ctx.tell_agent(agent, f"#{conv.ticket} 已是您的会话。")
        return
    if conv.agent not in ("", agent.name):
        ctx.tell_agent(agent, f"#{conv.ticket} 正由 {conv.agent} 接待,只有接待的客服可以转接。")
        return
    if not await presence.is_online(ctx, target.name):
        ctx.tell_agent(agent, f"{target.name} 不在线,无法转接。发送 /status 查看在线客服。")
        return
    if not forced and (full := await _full(ctx, target)):
        prefix = ctx.config.quality.override_prefix
        ctx.tell_agent(agent, f"{full}。如确需转接,请发送 /transfer #{conv.ticket} {prefix}{target.name}")
        return
    await assignment.assign(ctx, conv, target, note=f"{agent.name} 转给您")
    ctx.tell_customer(conv, ctx.config.messages.transferred)
    ctx.tell_agent(agent, f"#{conv.ticket} 已转给 {target.name}。")


async def cmd_close(ctx: Context, agent: AgentConfig, args: list[str]) -> None:
    conv = await _target(ctx, agent, args)
    if conv is None:
        return
    if conv.agent not in ("", agent.name):
        ctx.tell_agent(agent, f"#{conv.ticket} 正由 {conv.agent} 接待,只有接待的客服可以结束。")
        return
    await ctx.store.close_conversation(conv.id, ctx.now)
    if not await survey.ask(ctx, conv) and ctx.config.messages.closed:
        # "closed", like "survey", tells a platform that keeps sessions (微信客服) the talk is over
        ctx.tell_customer(conv, ctx.config.messages.closed, purpose="closed")
    ctx.tell_agent(agent, f"#{conv.ticket} {conv.customer_name} 已结束。")
    await assignment.fill_queue(ctx)  # a place is free: the next waiting customer


async def cmd_history(ctx: Context, agent: AgentConfig, args: list[str]) -> None:
    conv = await _target(ctx, agent, args)
    if conv is None:
        return
    lines = await assignment.history_lines(ctx, conv, limit=10)
    ctx.tell_agent(
        agent,
        "\n".join([f"#{conv.ticket} {conv.customer_name} 最近的消息:", *lines])
        if lines
        else f"#{conv.ticket} 还没有消息。",
    )


async def cmd_status(ctx: Context, agent: AgentConfig, args: list[str]) -> None:
    load = await ctx.store.load()
    online = await presence.online_agents(ctx)
    names = {a.name for a in online}
    lines = [f"在线客服 ({len(online)}):"]
    lines += [f"  {a.name}: {load.get(a.name, 0)}/{a.capacity} 个会话" for a in online] or ["  (无)"]
    offline = [a.name for a in ctx.config.agents if a.name not in names]
    if offline:
        lines.append(f"离线: {'、'.join(offline)}")
    lines.append(f"等待接入: {len(await ctx.store.waiting())} 位客户")
    ctx.tell_agent(agent, "\n".join(lines))


async def cmd_handover(ctx: Context, agent: AgentConfig, args: list[str]) -> None:
    ctx.tell_agent(agent, await handover.summary(ctx, "【交接】当前"))


async def cmd_help(ctx: Context, agent: AgentConfig, args: list[str]) -> None:
    ctx.tell_agent(agent, help_text(ctx))


COMMANDS: dict[str, Command] = {
    "list": cmd_list,
    "claim": cmd_claim,
    "transfer": cmd_transfer,
    "close": cmd_close,
    "history": cmd_history,
    "status": cmd_status,
    "handover": cmd_handover,
    "help": cmd_help,
}


async def run(ctx: Context) -> None:
    """Desk chain: a message starting with '/' is a command, and goes no further."""
    text = ctx.msg.text.strip()
    if ctx.msg.kind != "text" or not text.startswith(("/", "／")) or ctx.handled:
        return
    ctx.done = True
    if ctx.agent is None:
        return
    name, *args = text[1:].split()
    await COMMANDS.get(name.lower(), cmd_help)(ctx, ctx.agent, args)
