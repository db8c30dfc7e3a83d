"""Satisfaction survey: a closed conversation an agent answered asks the customer to rate it;
the answer is stored; a low one goes to the supervisors' group; a non-answer is not asked again."""

from __future__ import annotations

import re

from bot.chain import Context, Desk
from bot.model import Conversation

__all__ = ["ask", "answer", "parse_rating"]

_THREE = {"非常满意": 5, "满意": 5, "一般": 3, "不满意": 1, "非常不满意": 1, "差": 1}
_DIGITS = str.maketrans("１２３４５", "12345")


def parse_rating(scale: str, text: str) -> tuple[int, str] | None:
    """(score 1-5, the answer as given) or None if the text is not a rating."""
    t = text.strip().translate(_DIGITS).rstrip("。.!！ ")
    if scale == "1-5":
        m = re.fullmatch(r"([1-5])\s*(分|星)?", t)
        return (int(m.group(1)), f"{m.group(1)}分") if m else None
    return (_THREE[t], t) if t in _THREE else None


async def ask(desk: Desk, conv: Conversation) -> bool:
    """On close: ask for a rating (True), unless the survey is off or no agent ever answered
    (there is no service to rate)."""
    if not desk.config.survey.enabled or conv.first_reply_at is None:
        return False
    desk.tell_customer(conv, desk.config.survey.prompt, purpose="survey")
    await desk.store.update_conversation(conv.id, survey_sent_at=desk.now)
    return True


async def answer(ctx: Context) -> None:
    """Customer chain, first: a rating for a conversation just closed ends here."""
    cfg, msg = ctx.config.survey, ctx.msg
    if not cfg.enabled or msg.kind != "text":
        return
    # the open conversation comes with it, for find_or_start: one read for both
    ctx.conversation, conv = await ctx.store.open_and_survey_pending(
        msg.account, msg.sender, ctx.now - cfg.answer_within
    )
    ctx.conversation_read = True
    if conv is None:
        return
    rating = parse_rating(cfg.scale, msg.text)
    if rating is None:  # a new question, not a rating: do not ask again
        await ctx.store.update_conversation(conv.id, rating_text="")
        return
    ctx.done = True
    said = await ctx.store.customer_texts(conv, limit=3)  # what the conversation was about
    if await ctx.store.record_inbound(msg, conv.id, ctx.now, purpose="rating") == "done":
        return  # a platform retry of the rating
    ctx.logged = True
    score, text = rating
    await ctx.store.update_conversation(conv.id, rating=score, rating_text=text)
    if cfg.thanks:
        ctx.tell_customer(conv, cfg.thanks)
    if score <= cfg.low_score and cfg.low_score_to:
        note = ctx.config.messages.low_rating.format(
            ticket=conv.ticket,
            customer=conv.customer_name,
            channel=ctx.directory.label(conv.account),
            rating=text,
            agent=conv.agent or "未分配",
        )
        ctx.tell_group(cfg.low_score_to, "\n".join([note, *(f"  客户: {t}" for t in said)]), conv.id)
