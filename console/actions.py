"""What a supervisor does: reassign a conversation, close it, send a dead letter again.

Reassigning and closing go through the desk's own rules: the console puts on the bus the command
an agent would type (/transfer, /claim, /close), as that agent, marked as the console's, and the
chain applies it (the customer told, capacity respected, the queue moved up). The outcome is the
note the rules send the agent; the supervisor sees the same note. A dead letter is marked for
retry, as `kefu deadletters --retry` does, and queued again at once.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from bot.config import AgentConfig
from bot.model import Message, new_id
from bot.worker import delivery_id
from console.host import ConsoleHost, host_of
from console.session import SESSION, audit, set_flash

__all__ = ["command", "routes"]

WAIT = 5.0  # how long a page waits for the rules' answer before saying it was queued


async def command(rt: ConsoleHost, agent: AgentConfig, text: str, user: str) -> str:
    """Put `text` on the bus as `agent` typed it; the note the rules sent the agent, or ''."""
    account, user_id = next(iter(agent.ids.items()))
    msg = Message(
        account=account,
        sender=user_id,
        kind="text",
        external_id=f"console-{new_id()}",
        sent_at=rt.clock.now(),
        text=text,
        sender_name=agent.name,
        data={"console": user},
    )
    await rt.ingest([msg])
    note = delivery_id(msg.id, "notice", account, user_id, "text")  # the first note to the agent
    end = time.monotonic() + WAIT
    while time.monotonic() < end:
        rows = await rt.store.query("SELECT text FROM messages WHERE uid = $1", note)
        if rows:
            return str(rows[0]["text"])
        await asyncio.sleep(0.05)
    return ""


async def _conversation(request: web.Request) -> tuple[ConsoleHost, int, str]:
    rt = host_of(request)
    ticket = int(request.match_info["ticket"])
    conv = await rt.store.by_ticket(ticket)
    if conv is None:
        raise web.HTTPNotFound(text=f"没有工单 #{ticket}\n")
    return rt, ticket, conv.agent


async def _done(request: web.Request, ticket: int, action: str, detail: str, note: str) -> web.StreamResponse:
    await audit(request, action, f"#{ticket} {detail}: {note or '已提交'}".strip())
    await set_flash(request, note or f"#{ticket}: 已提交,稍后刷新查看结果")
    raise web.HTTPSeeOther(f"/console/conversations/{ticket}")


async def reassign(request: web.Request) -> web.StreamResponse:
    rt, ticket, holder = await _conversation(request)
    name = str((await request.post()).get("agent", ""))
    target = rt.directory.agent(name)
    if target is None:
        await set_flash(request, f"没有名为 {name} 的客服")
        raise web.HTTPSeeOther(f"/console/conversations/{ticket}")
    user = request[SESSION].user
    current = rt.directory.agent(holder) if holder else None
    if current is not None:  # the agent serving it hands it over, as they would
        note = await command(rt, current, f"/transfer #{ticket} {target.name}", user)
    else:  # waiting (or its agent is gone from the config): the target takes it
        note = await command(rt, target, f"/claim #{ticket}", user)
    return await _done(request, ticket, "reassign", f"-> {target.name}", note)


async def close(request: web.Request) -> web.StreamResponse:
    rt, ticket, holder = await _conversation(request)
    user = request[SESSION].user
    agent = rt.directory.agent(holder) if holder else None
    agent = agent or (rt.config.agents[0] if rt.config.agents else None)
    if agent is None:
        await set_flash(request, "没有配置客服,无法结束会话")
        raise web.HTTPSeeOther(f"/console/conversations/{ticket}")
    note = await command(rt, agent, f"/close #{ticket}", user)
    return await _done(request, ticket, "close", f"as {agent.name}", note)


async def retry(request: web.Request) -> web.StreamResponse:
    rt = host_of(request)
    row_id = int(request.match_info["id"])
    n = await rt.store.mark_for_retry([row_id], rt.clock.now())
    if n:  # queued now, as the timer loop would on its next run (each marked row is taken once)
        await rt.retry_dead_letters()
    note = (
        f"已重新发送 (记录 {row_id}),结果见下表或会话记录" if n else f"记录 {row_id} 不是发送失败的消息 (可能已在重发)"
    )
    await audit(request, "retry", f"delivery {row_id}", "ok" if n else "refused")
    await set_flash(request, note)
    raise web.HTTPSeeOther("/console/")


def routes(app: web.Application) -> None:
    app.router.add_post(r"/conversations/{ticket:\d{1,9}}/reassign", reassign, name="reassign")
    app.router.add_post(r"/conversations/{ticket:\d{1,9}}/close", close, name="close")
    app.router.add_post(r"/deadletters/{id:\d{1,12}}/retry", retry, name="retry")
