"""What every platform adapter offers the core. Adapters live in ``adapters/<platform>/``."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from aiohttp import web

from bot.model import Delivery

if TYPE_CHECKING:
    from bot.app import Runtime

__all__ = ["Adapter", "Route", "load_adapter_class", "Ability", "RECEIVE_IMAGES", "SEND_IMAGES"]

Ability = str
# A picture written on this platform can be fetched (download_media), e.g. to carry it to another.
RECEIVE_IMAGES: Ability = "receive_images"
# A picture can be put on this platform (upload_image) and sent (a delivery of kind "image").
SEND_IMAGES: Ability = "send_images"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    suffix: str = ""  # below the account's base path /<platform>/<name>


class Adapter(ABC):
    """Glue between one configured account and the core: routes in, deliveries out."""

    platform: ClassVar[str]
    # what the adapter can do beyond text; the core checks these before it makes a delivery
    abilities: ClassVar[frozenset[Ability]] = frozenset()

    def __init__(self, account: Any, runtime: Runtime):
        self.account = account
        self.runtime = runtime

    @property
    def base_path(self) -> str:
        return f"/{self.platform}/{self.account.name}"

    def routes(self) -> list[Route]:
        return []

    async def start(self) -> None:
        """Open clients; called once the shared HTTP session exists."""

    async def before_shutdown(self) -> None:
        """The server is about to stop: close long-lived connections (WebSockets) it would wait for."""

    async def stop(self) -> None:
        """Close what start opened."""

    @abstractmethod
    async def send(self, delivery: Delivery) -> str:
        """Perform one delivery; return the platform's id for it ('' if it gives none).

        Raise PlatformError for a refusal, Unreachable when the platform takes nothing for this
        customer until they write again, RateLimited for a rate limit, TransientError for what
        is worth retrying. With `delivery.resend`, use the platform's duplicate check if it has one.
        """

    def dedupes(self, delivery: Delivery) -> bool:
        """Does the platform drop this delivery if it already has it (so an uncertain send may be repeated)?"""
        return False

    async def display_name(self, user_id: str) -> str:
        """A person's name as the platform knows it; '' when it will not say."""
        return ""

    async def download_media(self, media_id: str) -> tuple[bytes, str]:
        """With RECEIVE_IMAGES: (the bytes, a file name) of a picture written on this platform."""
        raise NotImplementedError(f"{self.platform} does not declare {RECEIVE_IMAGES}")

    async def upload_image(self, data: bytes, filename: str) -> str:
        """With SEND_IMAGES: put a picture on the platform; the media id a delivery sends."""
        raise NotImplementedError(f"{self.platform} does not declare {SEND_IMAGES}")


def load_adapter_class(platform: str) -> Callable[[Any, Runtime], Adapter]:
    """Adapters are found by name, so the core never imports them. ADAPTER is an Adapter
    class, or a factory of one (a platform with several protocols picks by the account)."""
    module = importlib.import_module(f"adapters.{platform}")
    factory: Callable[[Any, Runtime], Adapter] = module.ADAPTER
    return factory
