"""Who is who: configured agents by their ids on each desk account, and where to reach them."""

from __future__ import annotations

from bot.config import AgentConfig, Config

__all__ = ["Directory"]


class Directory:
    def __init__(self, config: Config):
        self.config = config
        self._by_id: dict[tuple[str, str], AgentConfig] = {}
        for agent in config.agents:
            for account, user_id in agent.ids.items():
                self._by_id[(account, user_id)] = agent
        self._by_name = {a.name: a for a in config.agents}
        # account name -> what its adapter can do beyond text (set by the runtime from the adapters)
        self.abilities: dict[str, frozenset[str]] = {}

    def agent_at(self, account: str, user_id: str) -> AgentConfig | None:
        """The configured agent writing from this desk account, or None for anyone else."""
        return self._by_id.get((account, user_id))

    def agent(self, name: str) -> AgentConfig | None:
        return self._by_name.get(name)

    def targets(self, agent: AgentConfig) -> list[tuple[str, str]]:
        """(desk account, user id) pairs the agent can be reached at."""
        return list(agent.ids.items())

    def label(self, account: str) -> str:
        return self.config.account(account).channel_label

    def role(self, account: str) -> str:
        return self.config.account(account).role

    def can(self, account: str, ability: str) -> bool:
        """Does this account's adapter declare the ability (bot.adapter.RECEIVE_IMAGES, SEND_IMAGES)?"""
        return ability in self.abilities.get(account, frozenset())

    def carries_voice(self, source: str, target: str) -> bool:
        """Can a voice message written on `source` reach someone on `target` as audio?"""
        return self.can(target, "send_voice") and (source == target or self.can(source, "receive_voice"))

    def carries_images(self, source: str, target: str) -> bool:
        """Can a picture written on `source` reach someone on `target` as a picture?"""
        if not self.can(target, "send_images"):
            return False
        return source == target or self.can(source, "receive_images")
