"""The desk's rules, one module per rule, assembled into a chain per account role."""

from __future__ import annotations

from bot.chain import Rules
from bot.config import Config
from handlers import (
    agent_reply,
    assignment,
    auto_reply,
    commands,
    conversation,
    duty,
    flood,
    greeting,
    handover,
    held,
    presence,
    quality,
    quick_replies,
    relay,
    reports,
    routing,
    sla,
    survey,
    transcript,
)
from handlers.faq import Faq

__all__ = ["Rules", "build_rules"]


def build_rules(config: Config) -> Rules:
    """Order matters: find the conversation, log it (dropping platform retries), then act."""
    faq = Faq(config.faq) if config.faq.file else None  # reads the knowledge file: its mistakes stop start-up
    customer = [
        survey.answer,
        conversation.find_or_start,
        transcript.log_inbound,
        held.release,
        flood.limit,
        greeting.greet,
        routing.classify,
        *([faq.answer] if faq else []),
        assignment.route,
        routing.forward,
        auto_reply.auto_reply,
        relay.relay_to_desk,
        sla.start_clock,
    ]
    desk = [
        agent_reply.resolve,
        transcript.log_inbound,
        duty.track,
        quick_replies.run,
        *([faq.command] if faq else []),
        commands.run,
        quality.check,
        agent_reply.reply,
        sla.stop_clock,
    ]
    on_tick = [sla.fire_due, presence.sweep_idle, handover.post_at_window_end, reports.post_daily]
    prepare = [faq.prepare] if faq else []
    return Rules(chains={"customer": customer, "desk": desk}, on_tick=on_tick, prepare=prepare)
