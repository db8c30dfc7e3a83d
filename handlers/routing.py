"""Routing: complaints to after-sales, suggestions and leads to sales, by keywords or regex.

Rules are tried in order; the first matching rule of each category wins, and a message may
match several categories. A conversation is forwarded to a category's group once, with its
context and the command that takes it; the conversation carries its categories.
"""

from __future__ import annotations

import datetime as dt
import re

from bot.chain import Context
from bot.config import Config, RoutingRule
from bot.records import LABELS, category_label
from handlers.schedule import schedule_of

__all__ = ["classify", "forward", "matching_rules", "category_label", "LABELS"]


def _matches(rule: RoutingRule, text: str) -> bool:
    return any(k and k in text for k in rule.keywords) or any(re.search(r, text) for r in rule.regex)


def matching_rules(config: Config, text: str) -> list[RoutingRule]:
    """The first matching rule of each category, in rule order."""
    found: dict[str, RoutingRule] = {}
    for rule in config.routing:
        if rule.category not in found and _matches(rule, text):
            found[rule.category] = rule
    return list(found.values())


async def classify(ctx: Context) -> None:
    conv, msg = ctx.conversation, ctx.msg
    if conv is None or msg.kind == "event" or not ctx.config.routing:
        return
    text = msg.text or msg.summary()
    rules = matching_rules(ctx.config, text)
    if not rules:
        return
    known = [c for c in conv.category.split(",") if c]
    new = [r for r in rules if r.category not in known]
    if new:
        conv.category = ",".join(known + [r.category for r in new])
        await ctx.store.update_conversation(conv.id, category=conv.category)
        ctx.forward = new
    if not conv.agent and all(not r.keep_with_desk for r in rules):
        ctx.handed_off = True  # the group takes it: not queued for the desk


async def forward(ctx: Context) -> None:
    """After assignment, so the group sees who serves the customer."""
    conv, msg = ctx.conversation, ctx.msg
    new = ctx.forward
    if conv is None or not new:
        return
    text = msg.text or msg.summary()
    when = dt.datetime.fromtimestamp(msg.received_at or ctx.now, schedule_of(ctx.config).tz).strftime("%m-%d %H:%M")
    channel = ctx.directory.label(conv.account)
    for rule in new:
        lines = [
            f"【{category_label(ctx.config, rule.category)}】#{conv.ticket} {conv.customer_name} ({channel}) {when}",
            text,
            f"接待客服: {conv.agent or '未分配'}",
            f"接入: 在客服应用中发送 /claim #{conv.ticket}",
        ]
        ctx.tell_group(rule.to, "\n".join(lines), conv.id)
