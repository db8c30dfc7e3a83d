"""The admin's YAML file: `${VAR}` substitution, the schema, and errors named by key path."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.errors import ConfigError

__all__ = [
    "Config",
    "AccountConfig",
    "WeChatAccount",
    "WeComAccount",
    "DingTalkAccount",
    "QQAccount",
    "WeComKfAccount",
    "AgentConfig",
    "GroupConfig",
    "load_config",
    "parse_config",
    "PLATFORM_LABELS",
    "ScheduleConfig",
    "WEEKDAYS",
    "parse_duration",
]

PLATFORM_LABELS = {"wechat": "公众号", "wecom": "企业微信", "dingtalk": "钉钉", "qq": "QQ", "wecom_kf": "微信客服"}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def parse_duration(v: Any) -> float:
    """'60s', '5m', '2h', '1d', '1h30m', '50ms' or a number of seconds -> seconds."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    if not isinstance(v, str) or not re.fullmatch(r"(\d+(\.\d+)?(ms|[smhd]))+", v.strip()):
        raise ValueError(f"must be a duration like 60s, 5m, 2h, 1h30m or 50ms (got {v!r})")
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(float(n) * unit[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)(ms|[smhd])", v))


Duration = Annotated[float, BeforeValidator(parse_duration)]
_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_STANDARD_DAY = ["08:30-12:00", "13:00-17:30"]


def _windows(v: Any) -> list[str]:
    if not isinstance(v, list):
        raise ValueError('must be a list of "HH:MM-HH:MM" windows')
    for w in v:
        m = _WINDOW.match(str(w))
        if not m:
            raise ValueError(f'{w!r} is not a window like "08:30-12:00"')
        if m.group(1, 2) == m.group(3, 4):
            raise ValueError(f"{w!r} is empty (start equals end)")
    return [str(w) for w in v]


Windows = Annotated[list[str], BeforeValidator(_windows)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _aes_key(v: str, *, required: bool) -> str:
    if not v:
        if required:
            raise ValueError("is required (43 characters, from the platform's console)")
        return v
    if len(v) != 43:
        raise ValueError(f"must be 43 characters (got {len(v)})")
    if not re.fullmatch(r"[A-Za-z0-9+/]{43}", v):
        raise ValueError("must be base64 characters only (A-Z a-z 0-9 + /)")
    return v


class _Account(_Strict):
    name: str
    role: Literal["customer", "desk"]
    label: str = ""  # how the channel is named to agents; default from the platform
    # desk role: post customers' messages to this group chat of the account (a DingTalk
    # conversationId, a QQ group id, a WeCom appchat id) instead of each agent's 1:1 chat;
    # agents answer there by quoting kefu's message or with #ticket
    desk_chat: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("must be 1-32 of a-z 0-9 _ - (it is part of the webhook path)")
        return v

    @property
    def channel_label(self) -> str:
        return self.label or PLATFORM_LABELS.get(self.platform, self.platform)  # type: ignore[attr-defined]


class WeChatAccount(_Account):
    platform: Literal["wechat"]
    app_id: str = Field(min_length=1)
    app_secret: str = Field(min_length=1)
    token: str = Field(min_length=3, max_length=32)
    encoding_aes_key: str = ""  # empty: plaintext mode
    api_base_url: str = "https://api.weixin.qq.com"
    max_clock_skew: Duration = 600.0  # a callback's timestamp may be this far from now

    @field_validator("encoding_aes_key")
    @classmethod
    def _key(cls, v: str) -> str:
        return _aes_key(v, required=False)


class WeComAccount(_Account):
    platform: Literal["wecom"]
    corp_id: str = Field(min_length=1)
    agent_id: int
    secret: str = Field(min_length=1)
    token: str = Field(min_length=1)
    encoding_aes_key: str
    api_base_url: str = "https://qyapi.weixin.qq.com"
    max_clock_skew: Duration = 600.0  # a callback's timestamp may be this far from now

    @field_validator("encoding_aes_key")
    @classmethod
    def _key(cls, v: str) -> str:
        return _aes_key(v, required=True)


class DingTalkAccount(_Account):
    """A DingTalk enterprise internal robot (企业内部应用机器人)."""

    platform: Literal["dingtalk"]
    mode: Literal["http", "stream"] = "http"  # HTTP receive mode, or Stream mode (dingtalk-stream)
    stream_endpoint: str = "https://api.dingtalk.com"  # where Stream mode opens its connection
    app_key: str = Field(min_length=1)
    app_secret: str = Field(min_length=1)
    robot_code: str = ""  # default: the app_key
    api_base_url: str = "https://api.dingtalk.com"
    max_clock_skew: Duration = 3600.0  # a callback's timestamp may be this far from now

    @property
    def robot(self) -> str:
        return self.robot_code or self.app_key


class QQAccount(_Account):
    """QQ through OneBot v11 (NapCat, Lagrange: HTTP POST events and a reverse WebSocket) or the
    official QQ Bot API (webhook with Ed25519 signatures)."""

    platform: Literal["qq"]
    protocol: Literal["onebot", "official"]
    # onebot: the token the OneBot implementation presents (Authorization: Bearer) on the reverse
    # WebSocket and HTTP API, and the secret its HTTP POST events are signed with (X-Signature)
    access_token: str = ""
    secret: str = ""
    api_url: str = ""  # onebot: the implementation's HTTP API root, when no reverse WebSocket is connected
    # official: the bot's AppID and AppSecret (the secret also seeds the Ed25519 key)
    app_id: str = ""
    app_secret: str = ""
    api_base_url: str = "https://api.sgroup.qq.com"
    token_url: str = "https://bots.qq.com/app/getAppAccessToken"

    @model_validator(mode="after")
    def _protocol_fields(self) -> QQAccount:
        if self.protocol == "official" and not (self.app_id and self.app_secret):
            raise ValueError("protocol official needs app_id and app_secret")
        if self.protocol == "onebot" and not (self.access_token or self.secret):
            raise ValueError("protocol onebot needs access_token (reverse WebSocket) and/or secret (HTTP POST)")
        return self


class WeComKfAccount(_Account):
    """WeCom 微信客服 (customer role): WeChat users write to a kf account; kefu pulls with sync_msg."""

    platform: Literal["wecom_kf"]
    corp_id: str = Field(min_length=1)
    secret: str = Field(min_length=1)  # the 微信客服 secret
    token: str = Field(min_length=1)
    encoding_aes_key: str
    open_kfid: str = Field(min_length=1)
    api_base_url: str = "https://qyapi.weixin.qq.com"
    max_clock_skew: Duration = 600.0  # a callback's timestamp may be this far from now

    @field_validator("encoding_aes_key")
    @classmethod
    def _key(cls, v: str) -> str:
        return _aes_key(v, required=True)


AccountConfig = Annotated[
    WeChatAccount | WeComAccount | DingTalkAccount | QQAccount | WeComKfAccount, Field(discriminator="platform")
]
AnyAccount = WeChatAccount | WeComAccount | DingTalkAccount | QQAccount | WeComKfAccount


class AgentConfig(_Strict):
    name: str = Field(min_length=1)
    ids: dict[str, str] = Field(min_length=1)  # account name -> the agent's user id there
    capacity: int = Field(default=5, ge=1)


class GroupConfig(_Strict):
    """An internal group kefu posts notices to (send only)."""

    account: str
    webhook_key: str = ""  # WeCom group robot
    chat_id: str = ""  # WeCom appchat, a DingTalk group's openConversationId, or a QQ group id
    webhook: str = ""  # DingTalk custom robot: https://oapi.dingtalk.com/robot/send?access_token=...
    secret: str = ""  # its 加签 secret (SEC...)

    @model_validator(mode="after")
    def _one_target(self) -> GroupConfig:
        if sum(bool(x) for x in (self.webhook_key, self.chat_id, self.webhook)) != 1:
            raise ValueError(
                "give exactly one of webhook_key (WeCom group robot), chat_id (WeCom appchat or DingTalk "
                "group) or webhook (DingTalk custom robot)"
            )
        if self.secret and not self.secret.startswith("SEC"):
            raise ValueError("secret: a DingTalk robot's 加签 secret starts with SEC")
        return self


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    api_timeout: Duration = 10.0  # a platform API call taking longer counts as failed (and is retried)


class ScheduleConfig(_Strict):
    """Service hours: weekly windows, holidays (closed) and make-up workdays (调休, open)."""

    timezone: str = "Asia/Shanghai"
    weekly: dict[str, Windows] = Field(default_factory=lambda: {d: list(_STANDARD_DAY) for d in WEEKDAYS[:6]})
    holidays: list[str] = []
    workdays: dict[str, Windows] = {}

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(f"'{v}' is not a time zone name like Asia/Shanghai") from None
        return v

    @field_validator("weekly")
    @classmethod
    def _days(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        bad = [d for d in v if d not in WEEKDAYS]
        if bad:
            raise ValueError(f"unknown day(s) {', '.join(bad)}; use {', '.join(WEEKDAYS)}")
        return v

    @field_validator("holidays")
    @classmethod
    def _dates(cls, v: list[str]) -> list[str]:
        return [_date(d) for d in v]

    @field_validator("workdays")
    @classmethod
    def _workdays(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        return {_date(d): w for d, w in v.items()}

    @model_validator(mode="after")
    def _no_overlaps(self) -> ScheduleConfig:
        """Two windows open at once would be one desk's hours counted twice (handover, next_open)."""
        import datetime as dt

        problems: list[tuple[str, str]] = []  # keys in full: the loader passes them on as they are
        for i, day in enumerate(WEEKDAYS):
            windows, after = self.weekly.get(day, []), WEEKDAYS[(i + 1) % 7]
            clashes = _overlaps(windows) + [
                f'"{w}" runs past midnight into {after}\'s "{n}"'
                for w, n in _spilling(windows, self.weekly.get(after, []))
            ]
            problems += [(f"schedule.weekly.{day}", c) for c in clashes]
        for date, windows in self.workdays.items():
            before = (dt.date.fromisoformat(date) - dt.timedelta(days=1)).isoformat()
            after = (dt.date.fromisoformat(date) + dt.timedelta(days=1)).isoformat()
            clashes = _overlaps(windows) + [
                f'"{w}" runs past midnight into {after}\'s "{n}"'
                for w, n in _spilling(windows, self._windows_of(after))
            ]
            if before not in self.workdays:  # a make-up day before this one checks its own spill above
                clashes += [
                    f'"{n}" starts before {before}\'s "{w}" ends'
                    for w, n in _spilling(self._windows_of(before), windows)
                ]
            problems += [(f"schedule.workdays.{date}", c) for c in clashes]
        if problems:
            raise _Problems(problems)
        return self

    def _windows_of(self, date: str) -> list[str]:
        """The windows that start on this date, as handlers.schedule reads them."""
        import datetime as dt

        if date in self.workdays:
            return self.workdays[date]
        if date in self.holidays:
            return []
        return self.weekly.get(WEEKDAYS[dt.date.fromisoformat(date).weekday()], [])


def _span(window: str) -> tuple[int, int]:
    """A window as minutes from its day's midnight; one that runs past midnight ends after 1440."""
    start, end = (int(t[:2]) * 60 + int(t[3:]) for t in window.split("-"))
    return start, end if end > start else end + 1440


def _overlaps(windows: list[str]) -> list[str]:
    spans = sorted((_span(w), w) for w in windows)
    return [f'"{a}" overlaps "{b}"' for (sa, a), (sb, b) in zip(spans, spans[1:], strict=False) if sb[0] < sa[1]]


def _spilling(windows: list[str], next_day: list[str]) -> list[tuple[str, str]]:
    """(window, next day's window) pairs where the first, running past midnight, is still open when the second opens."""
    return [(w, n) for w in windows for n in next_day if _span(n)[0] < _span(w)[1] - 1440]


def _date(v: Any) -> str:
    import datetime as dt

    try:
        return dt.date.fromisoformat(str(v)).isoformat()
    except ValueError:
        raise ValueError(f"{v!r} is not a date like 2026-10-01") from None


class PresenceConfig(_Strict):
    idle_offline: Duration = 1800.0  # an agent silent this long goes offline (0: never)
    online_words: list[str] = ["上线", "/on"]
    offline_words: list[str] = ["下线", "/off"]


class AssignmentConfig(_Strict):
    policy: Literal["round_robin", "least_busy"] = "round_robin"
    prefer_last_agent: bool = True  # a returning customer goes to the agent who served them last
    queue_notice: bool = True
    notice_step: int = Field(default=2, ge=1)  # tell a waiting customer again after moving up this many places


class SlaConfig(_Strict):
    first_response: Duration = 60.0
    escalate_after: Duration = 300.0  # 0: never
    escalate_to: str = ""  # a group name; empty: no escalation


class RoutingRule(_Strict):
    """Messages matching keywords or regular expressions are forwarded to an internal group."""

    category: str = Field(min_length=1)  # complaint, suggestion, lead, ...
    label: str = ""  # how the category is named to people (default: 投诉/建议/商机 or the category)
    keywords: list[str] = []
    regex: list[str] = []
    to: str  # a name under groups:
    keep_with_desk: bool = True  # also keep the conversation with the desk's agents

    @field_validator("regex")
    @classmethod
    def _regex(cls, v: list[str]) -> list[str]:
        for r in v:
            try:
                re.compile(r)
            except re.error as e:
                raise ValueError(f"{r!r} is not a valid regular expression: {e}") from None
        return v

    @model_validator(mode="after")
    def _something(self) -> RoutingRule:
        if not self.keywords and not self.regex:
            raise ValueError("give keywords or regex (or both)")
        return self


DEFAULT_BANNED_WORDS = [
    "傻逼",
    "傻B",
    "煞笔",
    "妈的",
    "他妈",
    "尼玛",
    "操你",
    "滚蛋",
    "废物",
    "白痴",
    "神经病",
    "去死",
    "有病吧",
    "脑残",
    "混蛋",
    "王八蛋",
    "狗屎",
    "蠢货",
    "闭嘴",
    "爱买不买",
]


class QualityConfig(_Strict):
    """The check every agent reply passes before it reaches the customer."""

    mode: Literal["warn", "block", "off"] = "warn"
    min_chars: int = Field(default=3, ge=0)
    banned_endings: list[str] = ["哦", "恩", "啊", "撒"]
    vague_phrases: list[str] = ["不知道", "不清楚"]
    banned_words: list[str] = Field(default_factory=lambda: list(DEFAULT_BANNED_WORDS))
    override_prefix: str = Field(default="!", min_length=1)


class SurveyConfig(_Strict):
    enabled: bool = True
    scale: Literal["1-5", "3"] = "1-5"  # 1-5, or 满意/一般/不满意
    question: str = ""  # default depends on the scale
    thanks: str = "感谢您的评价,祝您生活愉快!"
    low_score: int = Field(default=2, ge=1, le=5)  # at or below (on the 1-5 scale): tell low_score_to
    low_score_to: str = ""  # a group name
    answer_within: Duration = 86400.0  # after this, a reply is a new question, not a rating

    @property
    def prompt(self) -> str:
        if self.question:
            return self.question
        if self.scale == "3":
            return "本次服务已结束,请您评价:回复 满意、一般 或 不满意。"
        return "本次服务已结束,请您为本次服务打分:回复 1-5 (5 非常满意,1 非常不满意)。"


class HandoverConfig(_Strict):
    to: str = ""  # a group: the summary is posted at the end of each service window


class FloodConfig(_Strict):
    """A customer writing faster than this is told to slow down; the extra messages are logged, not relayed."""

    max_messages: int = Field(default=20, ge=1)
    per: Duration = 60.0
    notice: str = "您发送消息过于频繁,请稍后再试,客服会尽快回复您"


class AlertsConfig(_Strict):
    to: str = ""  # a group told when a delivery fails for good (the dead-letter list)
    every: Duration = 300.0  # at most one alert per this interval


class ReportsConfig(_Strict):
    daily_at: str = ""  # "18:00" local time; empty: no daily post
    to: str = ""  # a group

    @field_validator("daily_at")
    @classmethod
    def _at(cls, v: str) -> str:
        if v and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", v):
            raise ValueError(f"{v!r} is not a time like 18:00")
        return v


class TimersConfig(_Strict):
    tick: Duration = 1.0  # how often due timers and idle agents are checked


class MessagesConfig(_Strict):
    greeting: str = "您好,我是在线客服,很高兴为您服务"
    off_hours: str = "我们的服务时间是{hours},您的留言已收到,我们将在 {next_open} 后尽快回复您"
    no_agent: str = "您好,客服暂时不在线,您的留言已收到,客服上线后将第一时间回复您"
    # on a date under schedule.holidays, instead of off_hours
    holiday: str = "您好,今天是法定节假日,客服休息,您的留言已收到,我们将在 {next_open} 后尽快回复您"
    # to sla.escalate_to when customers wait in service hours and no agent is online
    nobody_online: str = "⚠️ 服务时间内有 {count} 位客户在等待,但没有客服在线(最早 #{ticket} {customer} 已等待 {waited}),请客服发送 上线 开始接待"
    auto_reply_interval: Duration = 1800.0
    please_wait: str = "非常抱歉让您久等了,客服正在为您查询,请稍候"
    queue: str = "非常抱歉,目前咨询的客户较多,您排在第 {position} 位,请稍候"  # {ahead}: how many before them
    closed: str = "感谢您的咨询,祝您生活愉快!如有其他问题欢迎随时联系我们"
    transferred: str = "正在为您转接其他客服,请稍候"
    desk_reminder: str = "⏰ #{ticket} {customer} 已等待 {waited} 未获回复,请尽快处理"
    low_rating: str = "👎 #{ticket} {customer} ({channel}) 评价: {rating},接待客服: {agent}"
    escalation: str = "⚠️ #{ticket} {customer} ({channel}) 已等待 {waited} 无人回复,接待客服: {agent}"
    unknown_ticket: str = "未找到进行中的工单 #{ticket},请检查工单号"
    no_current: str = "请以 #工单号 开头回复,例如: #1024 您好"
    sent_to: str = "已发送给 #{ticket} {customer}"
    not_delivered: str = "#{ticket} 未送达 {customer}: {reason}"


class Config(_Strict):
    server: ServerConfig = ServerConfig()
    storage: str = "sqlite:///kefu.db"
    bus: str = "memory://"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    accounts: list[AccountConfig] = Field(min_length=1)
    agents: list[AgentConfig] = []
    groups: dict[str, GroupConfig] = {}
    messages: MessagesConfig = MessagesConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    presence: PresenceConfig = PresenceConfig()
    assignment: AssignmentConfig = AssignmentConfig()
    sla: SlaConfig = SlaConfig()
    timers: TimersConfig = TimersConfig()
    routing: list[RoutingRule] = []
    quality: QualityConfig = QualityConfig()
    quick_replies: dict[str, str] = {}
    quick_reply_shortcut: str = "//"  # "//退货" is "/q 退货"
    survey: SurveyConfig = SurveyConfig()
    handover: HandoverConfig = HandoverConfig()
    reports: ReportsConfig = ReportsConfig()
    alerts: AlertsConfig = AlertsConfig()
    flood: FloodConfig = FloodConfig()

    @field_validator("storage")
    @classmethod
    def _storage(cls, v: str) -> str:
        if not v.startswith(("sqlite://", "postgresql://", "postgres://")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return v

    @field_validator("bus")
    @classmethod
    def _bus(cls, v: str) -> str:
        if not (v == "memory://" or v.startswith(("redis://", "rediss://"))):
            raise ValueError("must be memory:// or redis://host:port/db")
        return v

    @model_validator(mode="after")
    def _references(self) -> Config:
        problems: list[tuple[str, str]] = []
        seen: dict[str, int] = {}
        for i, a in enumerate(self.accounts):
            if a.name in seen:
                problems.append((f"accounts[{i}].name", f"'{a.name}' is already used by accounts[{seen[a.name]}]"))
            seen[a.name] = i
        desk = {a.name for a in self.accounts if a.role == "desk"}
        if not desk:
            problems.append(("accounts", "no account has role: desk, so no agent could answer"))
        if not any(a.role == "customer" for a in self.accounts):
            problems.append(("accounts", "no account has role: customer, so no customer could write"))
        names: set[str] = set()
        for i, ag in enumerate(self.agents):
            if ag.name in names:
                problems.append((f"agents[{i}].name", f"'{ag.name}' is listed twice"))
            names.add(ag.name)
            for acc in ag.ids:
                if acc not in desk:
                    problems.append((f"agents[{i}].ids.{acc}", "is not the name of a desk account"))
        refs = [
            ("sla.escalate_to", self.sla.escalate_to),
            ("survey.low_score_to", self.survey.low_score_to),
            ("handover.to", self.handover.to),
            ("reports.to", self.reports.to),
            ("alerts.to", self.alerts.to),
        ]
        refs += [(f"routing[{i}].to", r.to) for i, r in enumerate(self.routing)]
        for key, group in refs:
            if group and group not in self.groups:
                problems.append((key, f"no group is named '{group}' under groups:"))
        if self.reports.daily_at and not self.reports.to:
            problems.append(("reports.to", "is required with reports.daily_at (the group the summary goes to)"))
        for g, grp in self.groups.items():
            if grp.account not in seen:
                problems.append((f"groups.{g}.account", f"no account is named '{grp.account}'"))
        if problems:
            raise _Problems(problems)
        return self

    def account(self, name: str) -> AnyAccount:
        for a in self.accounts:
            if a.name == name:
                return a
        raise KeyError(name)


class _Problems(ValueError):
    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{k}: {p}" for k, p in problems))


def _substitute(node: Any, path: str, env: dict[str, str], problems: list[tuple[str, str]]) -> Any:
    if isinstance(node, dict):
        return {k: _substitute(v, f"{path}.{k}" if path else str(k), env, problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, f"{path}[{i}]", env, problems) for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def one(m: re.Match[str]) -> str:
        var, default = m.group(1), m.group(2)
        if var in env:
            return env[var]
        if default is not None:
            return default
        problems.append((path, f"environment variable {var} is not set (write ${{{var}:-default}} for a default)"))
        return ""

    return _VAR.sub(one, node)


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i >= 2 and loc[i - 2] == "accounts" and isinstance(loc[i - 1], int):
            continue  # the discriminator tag pydantic inserts (accounts.0.wechat.x)
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", ""))
    if err.get("type") == "extra_forbidden":
        return "unknown key (check its spelling against config/kefu.example.yaml)"
    if err.get("type") == "missing":
        return "is required"
    if err.get("type") == "union_tag_invalid":
        tag = (err.get("ctx") or {}).get("tag", "")
        return f"'{tag}' is not a platform kefu serves (it serves: {', '.join(sorted(PLATFORM_LABELS))})"
    if err.get("type") == "union_tag_not_found":
        return f"is required ({', '.join(sorted(PLATFORM_LABELS))})"
    return msg.removeprefix("Value error, ")


def parse_config(raw: Any, env: dict[str, str] | None = None) -> Config:
    """Validate an already-loaded YAML tree; raise ConfigError naming every bad key."""
    if not isinstance(raw, dict):
        raise ConfigError([("", "the file must be a YAML mapping (server:, storage:, accounts:, ...)")])
    problems: list[tuple[str, str]] = []
    data = _substitute(raw, "", dict(os.environ) if env is None else env, problems)
    if problems:
        raise ConfigError(problems)
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        out: list[tuple[str, str]] = []
        for err in e.errors():
            ctx = err.get("ctx") or {}
            inner = ctx.get("error")
            if isinstance(inner, _Problems):
                out.extend(inner.problems)
            else:
                loc = _loc(err["loc"])
                if err.get("type") in ("union_tag_invalid", "union_tag_not_found"):
                    loc += ".platform"
                out.append((loc, _message(err)))
        raise ConfigError(out) from None


def load_config(path: str | Path, env: dict[str, str] | None = None) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([("", f"cannot read {p}: {e.strerror}")]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError([("", f"{p} is not valid YAML: {where}{getattr(e, 'problem', e)}")]) from None
    return parse_config(raw, env)
