"""A whole kefu on 127.0.0.1 with the platforms emulated: what `kefu demo` and the tests run.

kefu itself is started exactly as `kefu run` starts it, from a parsed config; only the
platforms' API base URLs point at the emulators.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp

from adapters.dingtalk.emulator import DingTalkEmulator, DingTalkPusher
from adapters.wechat.emulator import WeChatEmulator, WeChatPusher, new_aes_key
from adapters.wecom.emulator import WeComEmulator, WeComPusher
from bot.app import Runtime
from bot.clock import Clock, FixedClock
from bot.config import Config
from bot.loader import parse_config

__all__ = ["Sandbox"]


@dataclass
class Sandbox:
    storage: str = "sqlite:///:memory:"
    bus: str = "memory://"
    safe_mode: bool = True
    agents: dict[str, str] = field(default_factory=lambda: {"小李": "lixiaoli", "小王": "wangxiaowang"})
    nicknames: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # merged into the config
    clock: Clock | None = None
    online: list[str] | None = None  # agents' user ids that say 上线 at start (default: all)
    dingtalk_role: str = ""  # "desk" or "customer": also a DingTalk robot account "dd" in that role
    dingtalk_agents: dict[str, str] = field(default_factory=lambda: {"小张": "zhang001"})  # name -> staffId
    dingtalk_desk_chat: str = ""  # the DingTalk desk posts relays to this group (desk_chat)
    more_accounts: list[dict[str, Any]] = field(default_factory=list)  # appended to accounts:
    mp_extra: dict[str, Any] = field(default_factory=dict)  # merged into the WeChat account "mp"
    more_agents: list[dict[str, Any]] = field(default_factory=list)  # appended to agents:

    def __post_init__(self) -> None:
        self.wx_token, self.wx_key = "wxtoken123", new_aes_key() if self.safe_mode else ""
        self.wc_token, self.wc_key = "wecomtoken", new_aes_key()
        self.wechat = WeChatEmulator("wx1234567890abcdef", "wx-app-secret-0001", self.nicknames)
        self.wecom = WeComEmulator(
            "ww0123456789abcdef",
            "wecom-app-secret-0001",
            1000002,
            robot_keys={"robot-key-service", "robot-key-sales", "robot-key-supervisors"},
            chats={"desk-chat", "after-sales-chat"},
        )
        self.dingtalk = DingTalkEmulator(
            "ding-app-key", "ding-app-secret-0001", robots={"dd-robot-token": "SEC-test-secret-0001", "dd-plain": ""}
        )
        self.kefu: Runtime | None = None
        self.http: aiohttp.ClientSession | None = None
        self._desk_msg, self._customer_msg = 880_000_000, 770_000_000

    @classmethod
    def at(cls, when: str, **kw: Any) -> Sandbox:
        """A sandbox whose clock reads `when` (local time in Asia/Shanghai, e.g. '2026-11-24 12:30')."""
        import datetime as dt
        from zoneinfo import ZoneInfo

        start = dt.datetime.fromisoformat(when).replace(tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
        return cls(clock=FixedClock(start), **kw)

    def config_dict(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "server": {"host": "127.0.0.1", "port": 0},
            "storage": self.storage,
            "bus": self.bus,
            "accounts": [
                {
                    "name": "mp",
                    "platform": "wechat",
                    "role": "customer",
                    "app_id": self.wechat.app_id,
                    "app_secret": self.wechat.app_secret,
                    "token": self.wx_token,
                    "encoding_aes_key": self.wx_key,
                    "api_base_url": self.wechat.base_url,
                    **self.mp_extra,
                },
                {
                    "name": "desk",
                    "platform": "wecom",
                    "role": "desk",
                    "corp_id": self.wecom.corp_id,
                    "agent_id": self.wecom.agent_id,
                    "secret": self.wecom.secret,
                    "token": self.wc_token,
                    "encoding_aes_key": self.wc_key,
                    "api_base_url": self.wecom.base_url,
                },
            ],
            "agents": [{"name": n, "ids": {"desk": uid}} for n, uid in self.agents.items()],
            "groups": {"service": {"account": "desk", "webhook_key": "robot-key-service"}},
        }
        if self.dingtalk_role:
            cfg["accounts"].append(
                {
                    "name": "dd",
                    "platform": "dingtalk",
                    "role": self.dingtalk_role,
                    "app_key": self.dingtalk.app_key,
                    "app_secret": self.dingtalk.app_secret,
                    "api_base_url": self.dingtalk.base_url,
                    "desk_chat": self.dingtalk_desk_chat,
                }
            )
        if self.dingtalk_role == "desk":
            cfg["agents"] += [{"name": n, "ids": {"dd": sid}} for n, sid in self.dingtalk_agents.items()]
        cfg["accounts"] += self.more_accounts
        cfg["agents"] += self.more_agents
        cfg.update(self.extra)
        return cfg

    @property
    def config(self) -> Config:
        return parse_config(self.config_dict(), env={})

    async def start(self) -> Sandbox:
        await self.wechat.start()
        await self.wecom.start()
        await self.dingtalk.start()
        await self.start_kefu()
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        users = list(self.agents.values()) if self.online is None else self.online
        if users:
            for user_id in users:
                await self.say(user_id, "上线")
            await self.settle()
            self.wecom.forget()
            self.wechat.forget()
        return self

    async def ding(self, staff_id: str, text: str, **kw: Any) -> tuple[int, str]:
        """Someone writes `text` to the DingTalk robot (1:1, or in a group with group=...)."""
        assert self.http is not None
        return await self.dd.post(self.http, self.dd.body(staff_id, text, **kw))

    async def say(self, user_id: str, text: str) -> tuple[int, str]:
        """An agent writes `text` in their WeCom chat with the app."""
        assert self.http is not None
        self._desk_msg += 1
        return await self.desk.post(self.http, self.desk.text_xml(user_id, text, self._desk_msg))

    async def write(self, openid: str, text: str) -> tuple[int, str]:
        """A customer writes `text` to the Official Account."""
        assert self.http is not None
        self._customer_msg += 1
        return await self.customer.post(self.http, self.customer.text_xml(openid, text, self._customer_msg))

    async def start_kefu(self) -> Runtime:
        self.kefu = Runtime(self.config, clock=self.clock)
        await self.kefu.start()
        base = f"http://127.0.0.1:{self.kefu.port}"
        self.customer = WeChatPusher(f"{base}/wechat/mp", self.wx_token, self.wechat.app_id, self.wx_key)
        self.desk = WeComPusher(
            f"{base}/wecom/desk", self.wc_token, self.wc_key, self.wecom.corp_id, self.wecom.agent_id
        )
        self.dd = DingTalkPusher(
            f"{base}/dingtalk/dd",
            self.dingtalk.app_secret,
            self.dingtalk,
            self.dingtalk.app_key,
            staff_names={"zhang001": "张工", "c_wu": "吴经理"},
        )
        self.base_url = base
        return self.kefu

    async def stop_kefu(self) -> None:
        if self.kefu:
            await self.kefu.stop()
            self.kefu = None

    async def stop(self) -> None:
        await self.stop_kefu()
        if self.http:
            await self.http.close()
        await self.wechat.stop()
        await self.wecom.stop()
        await self.dingtalk.stop()

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until kefu has handled and delivered everything it took."""
        assert self.kefu is not None
        await self.kefu.wait_idle(timeout)

    async def __aenter__(self) -> Sandbox:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
