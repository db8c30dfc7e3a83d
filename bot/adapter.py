"""What every platform adapter offers the core, and the little of the core it is given (Host).

Adapters live in ``adapters/<platform>/`` and register a Platform through an entry point
(bot.registry); the core never imports them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from bot.config import Account, GroupConfig
from bot.model import Delivery, Message

if TYPE_CHECKING:
    import aiohttp
    from aiohttp import web

    from bot.bus import Guard
    from bot.clock import Clock
    from bot.state import State

__all__ = [
    "Adapter",
    "Route",
    "Host",
    "Ingest",
    "Values",
    "Platform",
    "AdapterFactory",
    "Ability",
    "RECEIVE_IMAGES",
    "SEND_IMAGES",
    "WINDOW_NOTICE",
    "RECEIVE_VOICE",
    "SEND_VOICE",
]

Ability = str
# A picture written on this platform can be fetched (download_media), e.g. to carry it to another.
RECEIVE_IMAGES: Ability = "receive_images"
# A picture can be put on this platform (upload_image) and sent (a delivery of kind "image").
SEND_IMAGES: Ability = "send_images"
# A voice message written on this platform can be fetched (download_media) as the audio itself.
RECEIVE_VOICE: Ability = "receive_voice"
# Audio can be put on this platform (upload_voice) and sent (a delivery of kind "voice").
SEND_VOICE: Ability = "send_voice"
# When the platform's reply window to a customer has closed, a notice the window does not bind can
# tell them an answer waits (send_window_notice); an account declares it when one is configured.
WINDOW_NOTICE: Ability = "window_notice"


class Ingest(Protocol):
    def __call__(self, messages: list[Message], guard: Guard | None = None) -> Awaitable[int]:
        """Put inbound messages durably on the bus (platform retries dropped); how many were new.

        Raises BusUnavailable when they could not be stored (the webhook answers an error so the
        platform retries), SignatureError when `guard` was used before with another body.
        """
        ...


class Values(Protocol):
    """Durable key-value in storage: what must outlive a restart (a pull cursor, a reply count)."""

    async def get_value(self, key: str) -> str | None: ...

    async def set_value(self, key: str, value: str, now: float) -> None: ...


@dataclass
class Host:
    """All an adapter sees of the core: nothing else of the runtime reaches it."""

    ingest: Ingest
    state: State  # short-lived shared key-value: tokens, reply windows, locks
    values: Values
    clock: Clock  # the desk's clock (tests set it); signatures check real time instead
    groups: Mapping[str, GroupConfig]  # the desk's notice groups by name (config groups:)
    http: aiohttp.ClientSession | None = None  # shared by every adapter; set before Adapter.start


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    suffix: str = ""  # below the account's base path /<platform>/<name>


class Adapter(ABC):
    """Glue between one configured account and the core: routes in, deliveries out."""

    platform: ClassVar[str]
    # what the adapter can do beyond text; the core checks these before it makes a delivery (an
    # adapter may add to its own in __init__, from its account's configuration)
    abilities: frozenset[Ability] = frozenset()

    def __init__(self, account: Any, host: Host):
        self.account = account
        self.host = host

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

    async def token_state(self) -> str:
        """How the account's API access token stands, for the console: '' when the platform uses none.
        An adapter whose `client` keeps a shared token (adapters/tokens.py) says so by default."""
        client = getattr(self, "client", None)
        told = getattr(client, "token_state", None)
        return str(await told()) if told is not None else ""

    async def download_media(self, media_id: str) -> tuple[bytes, str]:
        """With RECEIVE_IMAGES: (the bytes, a file name) of a picture written on this platform."""
        raise NotImplementedError(f"{self.platform} does not declare {RECEIVE_IMAGES}")

    async def upload_image(self, data: bytes, filename: str) -> str:
        """With SEND_IMAGES: put a picture on the platform; the media id a delivery sends."""
        raise NotImplementedError(f"{self.platform} does not declare {SEND_IMAGES}")

    async def upload_voice(self, data: bytes, filename: str) -> str:
        """With SEND_VOICE: put audio on the platform; the media id a delivery sends. Raises
        PlatformError naming the limit when the audio is not in a form the platform plays."""
        raise NotImplementedError(f"{self.platform} does not declare {SEND_VOICE}")

    async def send_window_notice(self, to: str, values: Mapping[str, Any]) -> str:
        """With WINDOW_NOTICE: tell customer `to` that replies wait for them (the reply window has
        closed); `values` fill the notice's fields: ticket, customer, agent, time, reply (its text).
        The platform's id for it ('' if none); raise PlatformError or TransientError as send does."""
        raise NotImplementedError(f"{self.platform} does not declare {WINDOW_NOTICE}")


# An Adapter class, or a function picking one by the account (a platform with several protocols)
AdapterFactory = Callable[[Any, Host], Adapter]


@dataclass(frozen=True)
class Platform:
    """What a platform package registers (entry point group kefu.platforms, see bot.registry)."""

    name: str  # the accounts' `platform:` and the first part of their webhook path
    schema: type[Account]  # its accounts' keys, defaults and label (adapters/<platform>/config.py)
    adapter: AdapterFactory

    @property
    def label(self) -> str:
        return self.schema.default_label
