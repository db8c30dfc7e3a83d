"""The handler chain: each rule reads the message and state and adds deliveries to send."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.config import AgentConfig, Config
from bot.model import Conversation, Delivery, Message

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.directory import Directory
    from bot.storage import Store

__all__ = ["Context", "Handler", "run_chain"]


@dataclass
class Context:
    """What one message's trip through the chain knows and decides."""

    msg: Message
    role: str  # the role of the account it came in on: customer | desk
    config: Config
    store: Store
    directory: Directory
    clock: Clock
    display_name: Callable[[str, str], Awaitable[str]]  # (account, user id) -> name
    conversation: Conversation | None = None
    new_conversation: bool = False
    agent: AgentConfig | None = None  # the configured agent who wrote it (desk side)
    out: list[Delivery] = field(default_factory=list)
    done: bool = False  # a handler ended the chain for this message

    @property
    def now(self) -> float:
        return self.clock.now()

    def send(self, delivery: Delivery) -> None:
        self.out.append(delivery)

    def tell_agent(self, agent: AgentConfig, text: str, conversation_id: int | None = None) -> None:
        """A private note from kefu to an agent, on every desk account they use."""
        for account, user_id in self.directory.targets(agent):
            self.send(
                Delivery(account=account, to=user_id, text=text, purpose="notice", conversation_id=conversation_id)
            )


Handler = Callable[[Context], Awaitable[None]]


async def run_chain(handlers: list[Handler], ctx: Context) -> Context:
    for handler in handlers:
        await handler(ctx)
        if ctx.done:
            break
    return ctx
