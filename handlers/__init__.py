"""The desk's rules, one module per rule, assembled into a chain per account role."""

from __future__ import annotations

from bot.chain import Handler
from bot.config import Config
from handlers import agent_reply, conversation, greeting, relay, transcript

__all__ = ["build_chains"]


def build_chains(config: Config) -> dict[str, list[Handler]]:
    """Order matters: find the conversation, log (and drop platform retries), then act."""
    return {
        "customer": [conversation.find_or_start, transcript.log_inbound, greeting.greet, relay.relay_to_desk],
        "desk": [agent_reply.resolve, transcript.log_inbound, agent_reply.reply],
    }
