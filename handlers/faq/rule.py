"""The knowledge base in the chains: it answers common questions before a person does, suggests
entries to the agent, and hands the customer over to a person cleanly.

Customer chain (after routing.classify, before assignment.route), while no person has answered in
the conversation and the customer has not asked for one:
- 人工 / 转人工 (faq.handover_words), the menu key, or faq.misses unanswered questions in a row: the
  customer joins the queue as today, and the agent gets the history with what the knowledge base said;
- a match at faq.answer_at: the entry's answer and the hand-over line, at once (a complaint never);
- at faq.suggest_at: nothing to the customer; the agent's relay carries `💡 /faq 12 退货流程`;
- below: today's flow.
Desk chain: `/faq 12` (or `/faq 12 #1024`) sends entry 12's answer through the reply-quality check.
"""

from __future__ import annotations

import re

from bot.chain import Context
from bot.config import FaqConfig
from bot.model import Event
from handlers.agent_reply import send_reply
from handlers.faq.base import KnowledgeBase, Match
from handlers.faq.normalize import normalize
from handlers.quality import screen

__all__ = ["Faq"]

_COMMAND = re.compile(r"^[/／]faq(?:\s+(.*))?$", re.S | re.I)
_TICKET = re.compile(r"^[#＃](\d{1,9})$")


class Faq:
    def __init__(self, cfg: FaqConfig):
        self.cfg = cfg
        self.kb = KnowledgeBase(cfg)
        self._words = {normalize(w) for w in cfg.handover_words if normalize(w)}

    def asks_for_person(self, text: str) -> bool:
        """The words alone, or with a few around them (我要转人工, 人工客服), not inside a long question."""
        t = normalize(text).replace(" ", "")
        return any(w in t and len(t) <= len(w) + 4 for w in self._words)

    async def prepare(self, ctx: Context) -> None:
        """Before the message's transaction: rank the entries for a customer's question the
        knowledge base may answer (matching takes 15-20 ms of CPU; inside the transaction it held
        SQLite's one writer, and every other message waited)."""
        msg = ctx.msg
        if ctx.role != "customer" or msg.kind != "text" or not msg.text.strip() or self.asks_for_person(msg.text):
            return
        conv = await ctx.store.open_conversation(msg.account, msg.sender)
        if conv is not None and conv.first_reply_at is not None:
            return  # a person has answered here
        ctx.matches = await self.kb.match(msg.text.strip())

    async def answer(self, ctx: Context) -> None:
        conv, msg, cfg = ctx.conversation, ctx.msg, self.cfg
        if conv is None or conv.first_reply_at is not None:
            return  # a person has answered here: the knowledge base is silent
        menu = msg.kind == "event" and msg.event == Event.MENU_CLICK and bool(cfg.menu_key)
        if msg.kind != "text" and not (menu and msg.data.get("key") == cfg.menu_key):
            return
        said = await ctx.store.faq_outcomes(conv.id, limit=cfg.misses + 10)
        if "handover" in said:
            return  # they asked for a person already
        text = msg.text.strip() if msg.kind == "text" else f"[菜单 {cfg.menu_key}]"
        if msg.kind != "text" or self.asks_for_person(text):
            await self._hand_over(ctx, text, "word" if msg.kind == "text" else "menu")
            return
        if not text or "complaint" in conv.category.split(","):
            return  # a complaint is for a person, never an automatic answer
        matches = ctx.matches if ctx.matches is not None else await self.kb.match(text)
        top = matches[0] if matches else None
        if top is not None and top.score >= cfg.answer_at:
            await self._answer(ctx, text, top)
            return
        shown = [m for m in matches if m.score >= cfg.suggest_at]
        outcome = "suggested" if shown else "missed"
        best = shown[0] if shown else top
        await ctx.store.add_faq(
            conv.id,
            text,
            outcome,
            ctx.now,
            entry=best.entry.id if shown and best else None,
            score=best.score if best else None,
        )
        if shown:
            ctx.hint = "💡 " + "  ".join(f"/faq {m.entry.id} {m.entry.q}" for m in shown)
        if "answered" in said:
            ctx.hand_over = True  # the agent takes over from the knowledge base: with what it said
        missed = 1 + next((i for i, o in enumerate(said) if o == "answered"), len(said))
        if missed >= cfg.misses:
            await ctx.store.add_faq(conv.id, text, "handover", ctx.now, reason="misses")
            ctx.hand_over = True

    async def _answer(self, ctx: Context, text: str, top: Match) -> None:
        conv = ctx.conversation
        assert conv is not None
        line = f"\n{self.cfg.handover_line}" if self.cfg.handover_line else ""
        ctx.tell_customer(conv, top.entry.a + line, purpose="faq")
        await ctx.store.add_faq(conv.id, text, "answered", ctx.now, entry=top.entry.id, score=top.score)
        if conv.agent:  # an agent holds it (not answered yet): they see the question and what was said
            ctx.hint = f"💡 知识库已自动回复 /faq {top.entry.id} {top.entry.q}"
        else:
            ctx.done = True  # answered: no queue, no off-hours reply, no relay

    async def _hand_over(self, ctx: Context, text: str, reason: str) -> None:
        assert ctx.conversation is not None
        await ctx.store.add_faq(ctx.conversation.id, text, "handover", ctx.now, reason=reason)
        ctx.hand_over = True

    async def command(self, ctx: Context) -> None:
        """Desk chain, before commands.run: `/faq 12 [#1024]`."""
        m = _COMMAND.match(ctx.msg.text.strip()) if ctx.msg.kind == "text" else None
        if m is None or ctx.handled:
            return
        ctx.handled = True  # not a command for commands.run, not text for agent_reply
        agent = ctx.agent
        if agent is None:
            return
        words = (m.group(1) or "").split()
        tickets = [int(t.group(1)) for w in words if (t := _TICKET.match(w))]
        numbers = [int(w) for w in words if w.isdigit()]
        if not numbers:
            ctx.tell_agent(
                agent, f"用法: /faq 12 (可加 #工单号),发送知识库第 12 条的答案。知识库共 {len(self.kb.entries)} 条。"
            )
            return
        await self.kb.fresh()
        entry = self.kb.entry(numbers[0])
        if entry is None:
            ctx.tell_agent(agent, f"知识库没有第 {numbers[0]} 条。")
            return
        if tickets:
            conv = await ctx.store.by_ticket(tickets[0])
        else:
            current = await ctx.store.current_of(agent.name)
            conv = await ctx.store.conversation(current) if current else None
        if conv is None or conv.status != "open":
            ctx.tell_agent(agent, f"请指明工单号,例如: /faq {entry.id} #1024")
            return
        if conv.agent not in ("", agent.name):
            ctx.tell_agent(agent, f"#{conv.ticket} 已由 {conv.agent} 接待。")
            return
        if await screen(ctx, agent, conv, entry.a):
            return  # the quality check held it and told the agent why
        await send_reply(ctx, agent, conv, entry.a, receipt=not tickets)
