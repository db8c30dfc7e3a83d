"""The sender: the one place deliveries reach platforms, with retries and a logged result."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any

from loguru import logger

from bot.errors import PlatformError, TransientError
from bot.model import Delivery

if TYPE_CHECKING:
    from bot.app import Runtime

__all__ = ["Sender"]


class Sender:
    attempts = 4
    base_delay = 0.5

    def __init__(self, runtime: Runtime):
        self.rt = runtime

    async def handle(self, payload: dict[str, Any]) -> None:
        try:
            d = Delivery.from_dict(payload)
        except TypeError:
            logger.error("outbound payload is not a delivery; dropped: {!r}", payload)
            return
        rt = self.rt
        if await rt.store.delivery_status(d.id) == "sent":
            return  # already accepted by the platform: never send twice
        adapter = rt.adapters.get(d.account)
        if adapter is None:
            await rt.store.finish_delivery(d.id, "failed", rt.clock.now(), error=f"no account named {d.account}")
            return
        error = ""
        for attempt in range(self.attempts):
            try:
                if d.kind == "image" and d.media_from and d.media_from != d.account:
                    d.media = await rt.bridge_media(d.media_from, d.media, d.account)
                    d.media_from = ""
                external_id = await adapter.send(d)
            except TransientError as e:
                error = str(e)
                delay = self.base_delay * 2**attempt * (0.5 + random.random())
                logger.warning("delivery {} to {}: {} (retry in {:.1f}s)", d.id[:8], d.account, e, delay)
                await asyncio.sleep(delay)
                continue
            except PlatformError as e:
                error = str(e)
                break
            except Exception as e:  # an adapter bug must not lose the result
                logger.exception("delivery {} to {} failed unexpectedly", d.id[:8], d.account)
                error = f"{type(e).__name__}: {e}"
                break
            await rt.store.finish_delivery(d.id, "sent", rt.clock.now(), external_id=external_id or None)
            self._count(d, "sent")
            logger.info("delivered {} {} -> {}:{}", d.purpose, d.id[:8], d.account, d.to)
            if d.receipt:
                await self._tell(d, rt.config.messages.sent_to, "")
            return
        await rt.store.finish_delivery(d.id, "failed", rt.clock.now(), error=error)
        self._count(d, "failed")
        await self._alert(d, error)
        logger.error("delivery {} {} -> {}:{} failed: {}", d.purpose, d.id[:8], d.account, d.to, error)
        await self._tell(d, rt.config.messages.not_delivered, error)

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

    async def _tell(self, d: Delivery, template: str, reason: str) -> None:
        """Tell the agent who wrote a reply where it went, or that it did not get there."""
        agent = self.rt.directory.agent(d.agent) if d.agent else None
        if agent is None or d.conversation_id is None:
            return
        conv = await self.rt.store.conversation(d.conversation_id)
        if conv is None:
            return
        text = template.format(ticket=conv.ticket, customer=conv.customer_name, reason=reason)
        for account, user_id in self.rt.directory.targets(agent):
            await self.rt.enqueue_delivery(
                Delivery(account=account, to=user_id, text=text, purpose="receipt", conversation_id=conv.id)
            )
