"""The handler chain: each rule reads the message and state and adds deliveries to send."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.config import AgentConfig, Config, RoutingRule
from bot.model import Conversation, Delivery, Message

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.directory import Directory
    from bot.state import State
    from bot.store import Store

__all__ = ["Desk", "Context", "Handler", "TickHandler", "Rules", "run_chain"]


@dataclass
class Desk:
    """What every rule can read, and the deliveries it decides on (sent after it returns)."""

    config: Config
    store: Store
    state: State
    directory: Directory
    clock: Clock
    display_name: Callable[[str, str], Awaitable[str]]  # (account, user id) -> name
    metrics: Any = None  # bot.metrics.Metrics, when the runtime keeps them
    out: list[Delivery] = field(default_factory=list)

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

    def tell_customer(self, conv: Conversation, text: str, purpose: str = "auto") -> None:
        self.send(Delivery(account=conv.account, to=conv.customer, text=text, purpose=purpose, conversation_id=conv.id))

    def tell_group(self, group: str, text: str, conversation_id: int | None = None) -> None:
        grp = self.config.groups[group]
        self.send(
            Delivery(
                account=grp.account, to=group, group=group, text=text, purpose="notice", conversation_id=conversation_id
            )
        )


@dataclass
class Context(Desk):
    """One message's trip through the chain: what it knows and decides."""

    msg: Message = None  # type: ignore[assignment]  # always set for a message's chain
    role: str = "customer"  # the role of the account it came in on: customer | desk
    conversation: Conversation | None = None
    conversation_read: bool = False  # `conversation` is the customer's open one, as read by an earlier rule
    new_conversation: bool = False
    agent: AgentConfig | None = None  # the configured agent who wrote it (desk side)
    done: bool = False  # a handler ended the chain for this message

    # What earlier rules found, for later ones (each: who sets it -> who reads it).
    # Both chains:
    logged: bool = False  # transcript.log_inbound / survey.answer stored it -> the worker marks it handled
    # Customer chain:
    forward: list[RoutingRule] = field(default_factory=list)  # routing.classify: new matches -> routing.forward
    handed_off: bool = False  # routing.classify: a group takes it, not the desk -> assignment.route, sla.start_clock
    online: list[AgentConfig] = field(default_factory=list)  # assignment.route -> auto_reply, sla.start_clock
    # held.release: held replies, recorded before, to be published again (first) -> the worker
    resend: list[Delivery] = field(default_factory=list)
    relayed: bool = False  # assignment.route: assigning it relayed it with its history -> relay.relay_to_desk
    # faq.answer: the customer asked for a person, or the knowledge base talked with them first ->
    # assignment.route (hands it over with its history, a menu click too), auto_reply
    hand_over: bool = False
    hint: str = ""  # faq.answer: what the knowledge base suggests or answered -> relay.relay_to_desk
    matches: list[Any] | None = None  # faq.prepare, before the transaction: the ranked entries -> faq.answer
    # Desk chain:
    quoted: bool = False  # agent_reply.resolve: it quotes kefu's forward -> quality.check, agent_reply.reply
    internal: bool = False  # agent_reply.resolve: group chatter without a #ticket -> agent_reply.reply
    handled: bool = False  # quick_replies.run: it was a quick reply -> commands.run, agent_reply.reply
    reply_text: str | None = None  # quality.check: the text after the override prefix -> agent_reply.reply
    held: bool = False  # quality.check: blocked, the agent told why -> agent_reply.reply
    replied: bool = False  # agent_reply.reply: it went to the customer -> sla.stop_clock


Handler = Callable[[Context], Awaitable[None]]
TickHandler = Callable[[Desk], Awaitable[None]]


@dataclass(frozen=True)
class Rules:
    """The desk's rules as the runtime runs them (handlers.build_rules assembles them)."""

    chains: dict[str, list[Handler]]  # per account role
    on_tick: list[TickHandler]  # run by the timer loop
    # run before the message's transaction: slow work (matching) that must not hold the storage's
    # single writer on SQLite; they read, never write, and set fields of the context for the chain
    prepare: list[Handler] = field(default_factory=list)


async def run_chain(handlers: list[Handler], ctx: Context) -> Context:
    for handler in handlers:
        await handler(ctx)
        if ctx.done:
            break
    return ctx
