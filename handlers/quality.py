"""Reply quality: every agent reply is checked before it reaches the customer.

No replies shorter than min_chars, no endings like 哦/恩/啊/撒, no vague 不知道/不清楚, no
vulgar words. `warn` delivers and tells the agent privately; `block` holds the reply and
tells the agent why; the override prefix sends a held reply anyway. Findings are stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.chain import Context
from bot.config import AgentConfig, QualityConfig
from bot.model import Conversation
from handlers.agent_reply import parse_ticket

__all__ = ["Finding", "review", "check", "screen"]

_TRAILING = re.compile(r"[\s\W_]+$", re.UNICODE)  # punctuation, spaces, emoji at the end
_COUNTED = re.compile(r"[\w]", re.UNICODE)  # letters, digits, CJK: what makes a reply's length


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str  # min_chars | ending | vague | banned_word
    detail: str
    advice: str


def review(cfg: QualityConfig, text: str) -> list[Finding]:
    out: list[Finding] = []
    length = len(_COUNTED.findall(text))
    if length < cfg.min_chars:
        out.append(Finding("min_chars", str(length), f"回复太短(少于 {cfg.min_chars} 个字),请把话说完整"))
    core = _TRAILING.sub("", text)
    for ending in cfg.banned_endings:
        if ending and core.endswith(ending):
            out.append(Finding("ending", ending, f"请不要以「{ending}」结尾"))
            break
    for phrase in cfg.vague_phrases:
        if phrase and phrase in text:
            out.append(Finding("vague", phrase, f"请不要说「{phrase}」,可以说「请您稍等,我帮您确认一下」"))
    lowered = text.lower()
    for word in cfg.banned_words:
        if word and word.lower() in lowered:
            out.append(Finding("banned_word", word, f"含有不文明用语「{word}」"))
    return out


async def check(ctx: Context) -> None:
    """Desk chain, before the reply goes out."""
    cfg, msg, agent, conv = ctx.config.quality, ctx.msg, ctx.agent, ctx.conversation
    if cfg.mode == "off" or agent is None or msg.kind != "text" or conv is None or conv.status != "open":
        return
    ticket, body = parse_ticket(msg.text)
    if (
        not body
        or body.startswith(("/", "／"))
        or (ticket is None and not ctx.quoted and conv.agent not in ("", agent.name))
    ):
        return  # a command, or a reply that will not go out anyway
    override = body.startswith(cfg.override_prefix)
    if override:
        body = body[len(cfg.override_prefix) :].strip()
        ctx.reply_text = body
    ctx.held = await screen(ctx, agent, conv, body, override=override)


async def screen(ctx: Context, agent: AgentConfig, conv: Conversation, body: str, *, override: bool = False) -> bool:
    """Review a reply about to go to the customer: store the findings, tell the agent; True if held."""
    cfg = ctx.config.quality
    findings = review(cfg, body) if cfg.mode != "off" else []
    if not findings:
        return False
    action = "overridden" if override else ("blocked" if cfg.mode == "block" else "warned")
    for f in findings:
        await ctx.store.add_finding(conv.id, agent.name, f.rule, f.detail, action, body, ctx.now)
    if override:
        return False
    advice = ";".join(f.advice for f in findings)
    if action == "blocked":
        ctx.tell_agent(
            agent,
            f"⛔ 回复未发送给 #{conv.ticket}: {advice}。请修改后重发;如确需原样发送,"
            f"请在内容前加 {cfg.override_prefix} ,例如: #{conv.ticket} {cfg.override_prefix}{body}",
            conv.id,
        )
        return True
    ctx.tell_agent(agent, f"⚠️ 已发送给 #{conv.ticket},但请注意: {advice}。", conv.id)
    return False
