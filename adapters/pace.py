"""Pacing for endpoints with a rate limit (group robots: 20 messages a minute).

Messages are spaced, never dropped: a sender waits for its turn. The turn is a key in the
shared state, so every kefu process sharing Redis keeps to one pace.
"""

from __future__ import annotations

import asyncio

from bot.errors import TransientError
from bot.state import State

__all__ = ["wait_turn", "ROBOT_INTERVAL"]

ROBOT_INTERVAL = 3.0  # 20 a minute, in any minute


async def wait_turn(state: State, key: str, interval: float, patience: float = 120.0) -> None:
    """Return when this caller may send on `key` (at most one send per `interval`)."""
    waited = 0.0
    step = min(0.2, interval / 4) or 0.05
    while not await state.add(f"pace:{key}", ttl=interval):
        if waited >= patience:
            raise TransientError(f"rate limit: no turn on {key} within {patience:.0f}s")
        await asyncio.sleep(step)
        waited += step
