"""Handover (交接): at the end of each service window the open and waiting conversations are
posted to the desk group; `/handover` gives the same summary on demand."""

from __future__ import annotations

import datetime as dt

from bot.chain import Desk
from handlers.schedule import schedule_of

__all__ = ["summary", "post_at_window_end"]

GRACE = 15 * 60  # a window that ended longer ago than this (kefu was down) is not handed over late


async def summary(desk: Desk, title: str) -> str:
    sched = schedule_of(desk.config)

    def hm(ts: float | None) -> str:
        return dt.datetime.fromtimestamp(ts, sched.tz).strftime("%m-%d %H:%M") if ts else "-"

    convs = await desk.store.open_conversations()
    lines = [f"{title}: 未结束的会话 {len(convs)} 个" if convs else f"{title}: 没有未结束的会话"]
    for c in convs:
        last = (await desk.store.customer_texts(c, limit=1, last=True) or [""])[0]
        state = f"客服 {c.agent}" if c.agent else "等待接入"
        waiting = f" 等待回复自 {hm(c.waiting_since)}" if c.waiting_since else ""
        lines.append(
            f"#{c.ticket} {c.customer_name} ({desk.directory.label(c.account)}) {state}"
            f"{waiting} 等候自 {hm(c.queued_at or c.created_at)}\n  最后消息: {last[:60]}"
        )
    return "\n".join(lines)


async def post_at_window_end(desk: Desk) -> None:
    """Timer: once per window end, across every kefu process."""
    group = desk.config.handover.to
    if not group:
        return
    end = schedule_of(desk.config).last_end(desk.now)
    if end is None or desk.now - end.timestamp() > GRACE:
        return
    if not await desk.state.add(f"handover:{int(end.timestamp())}", ttl=2 * 86400):
        return
    desk.tell_group(group, await summary(desk, f"【交接】{end:%m-%d %H:%M} 班次结束"))
