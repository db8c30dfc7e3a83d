"""The sender: the one place deliveries reach platforms, with retries and a logged result."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from loguru import logger

from bot.adapter import SEND_IMAGES, WINDOW_NOTICE, Adapter
from bot.bus import lease_held
from bot.errors import (
    BusUnavailable,
    LeaseLost,
    PlatformError,
    RateLimited,
    TransientError,
    Uncertain,
    Unreachable,
    is_outage,
)
from bot.model import Conversation, Delivery

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import Config
    from bot.directory import Directory
    from bot.metrics import Metrics
    from bot.outage import Outages
    from bot.state import State
    from bot.store import Store

__all__ = ["Sender", "SenderHost", "UNCERTAIN", "uncertain", "EMPTY"]

UNCERTAIN = (
    "uncertain: kefu stopped while this was being sent and the platform has no duplicate check, "
    "so it was not sent again automatically (it may have arrived); kefu deadletters --retry sends it"
)
EMPTY = "empty: a message with nothing in it is never sent"


def uncertain(why: str) -> str:
    """The dead letter's error for a send whose outcome the platform never told."""
    return (
        f"uncertain: {why}; the platform has no duplicate check, so it was not sent again "
        "automatically (it may have arrived); kefu deadletters --retry sends it"
    )


class SenderHost(Protocol):
    """What the sender uses of the runtime (bot.app.Runtime is one); named here, so no import circle."""

    config: Config
    store: Store
    state: State
    clock: Clock
    directory: Directory
    adapters: dict[str, Adapter]
    outages: Outages
    metrics: Metrics

    async def enqueue_delivery(self, d: Delivery) -> None: ...

    async def bridge_media(self, source: str, media_id: str, target: str, kind: str = "image") -> str: ...


class Sender:
    attempts = 4  # network errors, timeouts, 5xx, "system busy"
    base_delay = 0.5
    rate_limit_waits = 8  # a rate limit is waited out longer: 2, 4, 8 ... 60 s
    rate_limit_delay = 2.0

    def __init__(self, runtime: SenderHost):
        self.rt = runtime

    async def handle(self, payload: dict[str, Any]) -> None:
        try:
            d = Delivery.from_dict(payload)
        except TypeError:
            logger.error("outbound payload is not a delivery; dropped: {!r}", payload)
            return
        rt = self.rt
        before = await rt.store.claim_delivery(d.id, rt.clock.now())
        if before in ("sent", "failed", "refused", "held", "retry"):
            return  # finished already (this is a replay): never send twice
        adapter = rt.adapters.get(d.account)
        if adapter is None:
            await self._finish(d, "failed", error=f"no account named {d.account}")
            return
        if before == "sending":  # cut off mid-send: the platform may have it already
            if not adapter.dedupes(d):
                await self._give_up(d, UNCERTAIN)
                return
            d.resend = True
        if (problem := self._unsendable(adapter, d)) is not None:
            await self._give_up(d, problem)
            return
        if (why := await self._unreachable(d)) is not None:
            await self._refused(d, why)
            return
        await self._send(adapter, d)

    def _unsendable(self, adapter: Any, d: Delivery) -> str | None:
        """What makes this delivery impossible whatever the platform says: nothing in it, or a
        picture for an adapter that does not declare it can carry one."""
        if d.kind == "image":
            if not d.media:
                return EMPTY
            if SEND_IMAGES not in adapter.abilities:
                return f"pictures cannot be sent to {adapter.platform} yet"
            if d.media_from and d.media_from != d.account and not self.rt.directory.carries_images(
                d.media_from, d.account
            ):
                return f"a picture cannot be carried from {d.media_from} to {d.account} yet"
            return None
        if d.kind == "voice":
            if not d.media:
                return EMPTY
            if d.media_from and d.media_from != d.account and not self.rt.directory.carries_voice(
                d.media_from, d.account
            ):
                return f"a voice cannot be carried from {d.media_from} to {d.account} yet"
            return None
        return EMPTY if not d.text.strip() else None

    async def _send(self, adapter: Any, d: Delivery) -> None:
        rt = self.rt
        error = ""
        attempt = waits = 0
        while attempt < self.attempts:
            if not lease_held():  # another process serves this partition now: it sends, not us
                await self._release(d)
                raise LeaseLost(f"delivery {d.id[:8]}: the partition went to another process")
            try:
                if d.kind in ("image", "voice") and d.media_from and d.media_from != d.account:
                    d.media = await rt.bridge_media(d.media_from, d.media, d.account, d.kind)
                    d.media_from = ""
                external_id = await adapter.send(d)
            except RateLimited as e:  # queue behind the limit, never drop
                waits += 1
                error = str(e)
                if waits > self.rate_limit_waits:
                    break
                delay = min(self.rate_limit_delay * 2 ** (waits - 1), 60.0) * (0.75 + random.random() / 2)
                logger.warning("delivery {} to {}: {} (waiting {:.1f}s)", d.id[:8], d.account, e, delay)
                await asyncio.sleep(delay)
                continue
            except Uncertain as e:
                if not adapter.dedupes(d):
                    await self._give_up(d, uncertain(str(e)))
                    return
                attempt += 1  # the platform drops a duplicate: sending it again is safe
                error = str(e)
                d.resend = True
                await asyncio.sleep(self.base_delay * 2 ** (attempt - 1) * (0.5 + random.random()))
                continue
            except TransientError as e:
                attempt += 1
                error = str(e)
                d.resend = True  # a timeout may have been accepted: let the platform's duplicate check see
                delay = self.base_delay * 2 ** (attempt - 1) * (0.5 + random.random())
                logger.warning("delivery {} to {}: {} (retry in {:.1f}s)", d.id[:8], d.account, e, delay)
                await asyncio.sleep(delay)
                continue
            except Unreachable as e:
                await self._refused(d, str(e))
                return
            except PlatformError as e:
                error = str(e)
                break
            except Exception as e:
                if is_outage(e):  # our own Redis or database (a token, a pace): not sent; the bus retries
                    await self._release(d)
                    raise
                logger.exception("delivery {} to {} failed unexpectedly", d.id[:8], d.account)
                error = f"{type(e).__name__}: {e}"
                break
            await self._finish(d, "sent", external_id=external_id or None)
            self._count(d, "sent")
            logger.info("delivered {} {} -> {}:{}", d.purpose, d.id[:8], d.account, d.to)
            if d.receipt:
                await self._tell(d, rt.config.messages.sent_to, "")
            return
        await self._give_up(d, error)

    async def _finish(self, d: Delivery, status: str, *, error: str = "", external_id: str | None = None) -> None:
        """Record the outcome; once the platform has a message, the record must not be lost to an outage."""
        delay, down = 0.2, ""
        for _ in range(60):
            try:
                await self.rt.store.finish_delivery(
                    d.id, status, self.rt.clock.now(), error=error, external_id=external_id
                )
            except Exception as e:
                if not is_outage(e):
                    raise
                down = self.rt.outages.down(e)  # logged once for the outage, not per try
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if down:
                self.rt.outages.up(down)
            return
        raise BusUnavailable(f"storage: the outcome of delivery {d.id} could not be recorded")

    async def _release(self, d: Delivery) -> None:
        """The send never reached the platform: back to pending, so the retry is not taken as uncertain."""
        try:
            await self.rt.store.finish_delivery(d.id, "pending", self.rt.clock.now())
        except Exception as e:
            logger.warning("delivery {}: left as sending ({}); its retry will be treated as uncertain", d.id[:8], e)

    async def _give_up(self, d: Delivery, error: str) -> None:
        await self._finish(d, "failed", error=error)
        self._count(d, "failed")
        await self._alert(d, error)
        logger.error("delivery {} {} -> {}:{} failed: {}", d.purpose, d.id[:8], d.account, d.to, error)
        await self._tell(d, self.rt.config.messages.not_delivered, error)

    async def _unreachable(self, d: Delivery) -> str | None:
        """Why the customer cannot be sent to now, if their conversation is marked so."""
        if d.conversation_id is None or d.chat or d.group or self.rt.directory.role(d.account) != "customer":
            return None
        conv = await self.rt.store.conversation(d.conversation_id)
        if conv is None or not conv.unreachable or conv.account != d.account or conv.customer != d.to:
            return None
        return conv.unreachable

    async def _refused(self, d: Delivery, why: str) -> None:
        """The platform takes nothing for this customer until they write again: mark, record, tell.

        An agent's reply is held, to go out when the customer writes again (handlers.held); the
        first one held in a closed window also sends the account's window notice, if it has one."""
        rt = self.rt
        conv = None
        if d.conversation_id is not None and not d.chat and not d.group:
            conv = await rt.store.conversation(d.conversation_id)
            if conv is not None and conv.customer != d.to:
                conv = None
        held = conv is not None and conv.status == "open" and bool(d.agent)
        await self._finish(d, "held" if held else "refused", error=why)
        self._count(d, "held" if held else "refused")
        logger.warning(
            "delivery {} {} -> {}:{} refused by the platform{}: {}",
            d.purpose, d.id[:8], d.account, d.to, " (held)" if held else "", why,
        )  # fmt: skip
        if conv is not None and conv.unreachable != why:
            await rt.store.update_conversation(conv.id, unreachable=why)
        if not held or conv is None:
            await self._tell(d, rt.config.messages.not_delivered, why)
            return
        msgs = rt.config.messages
        steps = [msgs.reply_held]
        # one notice a closed window: held replies are released when the customer writes (and the
        # window opens), so the first one held is the first since then; the later ones join it
        if await rt.store.held_count(conv.id) == 1:
            steps.append(await self._window_notice(d, conv))
        await self._tell(d, msgs.not_delivered, why, then=steps)

    async def _window_notice(self, d: Delivery, conv: Conversation) -> str:
        """Send the account's window notice to the customer; what the agent is told of it."""
        msgs = self.rt.config.messages
        adapter = self.rt.adapters.get(d.account)
        if adapter is None or WINDOW_NOTICE not in adapter.abilities:
            return msgs.window_notice_none
        agent = self.rt.directory.agent(d.agent)
        values = {
            "ticket": str(conv.ticket),
            "customer": conv.customer_name,
            "agent": agent.name if agent else d.agent,
            "time": dt.datetime.fromtimestamp(self.rt.clock.now(), ZoneInfo(self.rt.config.schedule.timezone)).strftime(
                "%Y-%m-%d %H:%M"
            ),
            "reply": d.text if d.kind == "text" else "[图片]",
        }
        try:
            await adapter.send_window_notice(d.to, values)
        except Exception as e:  # the reply is held whatever happens here: say so, never retry the held send
            logger.warning("window notice to {}:{} for #{} failed: {}", d.account, d.to, conv.ticket, e)
            return msgs.window_notice_failed.format(reason=e)
        logger.info("window notice sent to {}:{} for #{}", d.account, d.to, conv.ticket)
        self.rt.metrics.messages_out.labels(
            self.rt.config.account(d.account).platform, d.account, "window_notice", "sent"
        ).inc()
        return msgs.window_notice_sent

    async def _alert(self, d: Delivery, error: str) -> None:
        """Tell the admins' group a delivery is in the dead-letter list (at most once per alerts.every)."""
        cfg = self.rt.config.alerts
        if not cfg.to or d.group == cfg.to or not await self.rt.state.add("alerts:throttle", ttl=cfg.every):
            return
        where = f"{d.account}:{d.to}"
        text = (
            f"⚠️ kefu 投递失败 ({d.purpose} -> {where}): {error}\n"
            "运行 kefu deadletters 查看,kefu deadletters --retry-all 重发"
        )
        grp = self.rt.config.groups[cfg.to]
        await self.rt.enqueue_delivery(
            Delivery(account=grp.account, to=cfg.to, group=cfg.to, text=text, purpose="alert")
        )

    def _count(self, d: Delivery, result: str) -> None:
        platform = self.rt.config.account(d.account).platform
        self.rt.metrics.messages_out.labels(platform, d.account, d.purpose, result).inc()
        if result == "failed":
            self.rt.metrics.delivery_failures.labels(platform, d.account).inc()

    async def _tell(self, d: Delivery, template: str, reason: str, then: list[str] | None = None) -> None:
        """Tell the agent who wrote a reply where it went, or that it did not get there."""
        agent = self.rt.directory.agent(d.agent) if d.agent else None
        if agent is None or d.conversation_id is None:
            return
        conv = await self.rt.store.conversation(d.conversation_id)
        if conv is None:
            return
        text = template.format(ticket=conv.ticket, customer=conv.customer_name, reason=reason)
        text = "\n".join([text, *(then or [])])
        for account, user_id in self.rt.directory.targets(agent):
            await self.rt.enqueue_delivery(
                Delivery(account=account, to=user_id, text=text, purpose="receipt", conversation_id=conv.id)
            )
