"""The desk's own config schema: agents, groups, hours, rules and texts. Each platform's account
schema lives with its adapter (adapters/<platform>/config.py) and reaches the core through the
registry; bot.loader reads the YAML file into this."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, SerializeAsAny, ValidationError, ValidationInfo, field_validator, model_validator

from bot.config_console import ConsoleConfig
from bot.config_faq import FaqConfig
from bot.config_types import CONFIG_DIR, WEEKDAYS, Duration, Problems, Strict, parse_duration, problems_of
from bot.hours import ScheduleConfig

__all__ = [
    "Config",
    "Account",
    "AgentConfig",
    "GroupConfig",
    "ScheduleConfig",
    "ConsoleConfig",
    "ACCOUNT_SCHEMAS",
    "CONFIG_DIR",
    "FaqConfig",
    "WEEKDAYS",
    "Duration",
    "parse_duration",
]

ACCOUNT_SCHEMAS = "account_schemas"  # the validation context's key: platform name -> account schema
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class Account(Strict):
    """What every account has, whatever its platform; each platform's schema adds its own keys."""

    default_label: ClassVar[str] = ""  # how agents see the platform's channels unless `label` says
    secret_fields: ClassVar[tuple[str, ...]] = ()  # keys whose values never reach a log line

    name: str
    platform: str
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
        return self.label or self.default_label or self.platform

    def secrets(self) -> list[str]:
        return [v for k in self.secret_fields if isinstance(v := getattr(self, k, ""), str) and v]


class AgentConfig(Strict):
    name: str = Field(min_length=1)
    ids: dict[str, str] = Field(min_length=1)  # account name -> the agent's user id there
    capacity: int = Field(default=5, ge=1)


class GroupConfig(Strict):
    """An internal group kefu posts notices to (send only), through one of its accounts."""

    account: str
    webhook_key: str = ""  # WeCom group robot
    chat_id: str = ""  # WeCom appchat, a DingTalk group's openConversationId, or a QQ group id
    webhook: str = ""  # DingTalk custom robot: https://oapi.dingtalk.com/robot/send?access_token=...
    secret: str = ""  # its 加签 secret (SEC...)

    @model_validator(mode="after")
    def _one_target(self) -> GroupConfig:
        if sum(bool(x) for x in (self.webhook_key, self.chat_id, self.webhook)) != 1:
            raise ValueError(
                "give exactly one of webhook_key (a group robot's key), chat_id (a group chat the account is in) "
                "or webhook (a custom robot's URL)"
            )
        if self.secret and not self.secret.startswith("SEC"):
            raise ValueError("secret: a custom robot's 加签 secret starts with SEC")
        return self


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    api_timeout: Duration = 10.0  # a platform API call taking longer counts as failed (and is retried)


class PresenceConfig(Strict):
    idle_offline: Duration = 1800.0  # an agent silent this long goes offline (0: never)
    online_words: list[str] = ["上线", "/on"]
    offline_words: list[str] = ["下线", "/off"]


class AssignmentConfig(Strict):
    policy: Literal["round_robin", "least_busy"] = "round_robin"
    prefer_last_agent: bool = True  # a returning customer goes to the agent who served them last
    queue_notice: bool = True
    notice_step: int = Field(default=2, ge=1)  # tell a waiting customer again after moving up this many places


class SlaConfig(Strict):
    first_response: Duration = 60.0
    escalate_after: Duration = 300.0  # 0: never
    escalate_to: str = ""  # a group name; empty: no escalation


class RoutingRule(Strict):
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


class QualityConfig(Strict):
    """The check every agent reply passes before it reaches the customer."""

    mode: Literal["warn", "block", "off"] = "warn"
    min_chars: int = Field(default=3, ge=0)
    banned_endings: list[str] = ["哦", "恩", "啊", "撒"]
    vague_phrases: list[str] = ["不知道", "不清楚"]
    banned_words: list[str] = Field(default_factory=lambda: list(DEFAULT_BANNED_WORDS))
    override_prefix: str = Field(default="!", min_length=1)


class SurveyConfig(Strict):
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


class HandoverConfig(Strict):
    to: str = ""  # a group: the summary is posted at the end of each service window


class FloodConfig(Strict):
    """A customer writing faster than this is told to slow down; the extra messages are logged, not relayed."""

    max_messages: int = Field(default=20, ge=1)
    per: Duration = 60.0
    notice: str = "您发送消息过于频繁,请稍后再试,客服会尽快回复您"


class AlertsConfig(Strict):
    to: str = ""  # a group told when a delivery fails for good (the dead-letter list)
    every: Duration = 300.0  # at most one alert per this interval


class ReportsConfig(Strict):
    daily_at: str = ""  # "18:00" local time; empty: no daily post
    to: str = ""  # a group

    @field_validator("daily_at")
    @classmethod
    def _at(cls, v: str) -> str:
        if v and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", v):
            raise ValueError(f"{v!r} is not a time like 18:00")
        return v


class TimersConfig(Strict):
    tick: Duration = 1.0  # the shortest time between two checks of the timed rules
    sweep: Duration = 10.0  # idle agents, shift end and the daily report: checked at least this often


class MessagesConfig(Strict):
    greeting: str = "您好,我是在线客服,很高兴为您服务"
    off_hours: str = "我们的服务时间是{hours},您的留言已收到,我们将在 {next_open} 后尽快回复您"
    no_agent: str = "您好,客服暂时不在线,您的留言已收到,客服上线后将第一时间回复您"
    # on a date under schedule.holidays, instead of off_hours
    holiday: str = "您好,今天是法定节假日,客服休息,您的留言已收到,我们将在 {next_open} 后尽快回复您"
    # to sla.escalate_to when customers wait in service hours and no agent is online
    nobody_online: str = "⚠️ 服务时间内有 {count} 位客户在等待,但没有客服在线(最早 #{ticket} {customer} 已等待 {waited}),请客服发送 上线 开始接待"  # noqa: E501
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
    # an agent's reply refused because the platform's reply window closed (48 h): kept, and sent
    # when the customer writes again; the lines below are added to not_delivered
    reply_held: str = "回复已保留,客户再次来信时自动补发"
    window_notice_sent: str = "已向客户发送提醒通知 (回复任意内容即可查看)"
    window_notice_failed: str = "提醒通知发送失败: {reason}"
    window_notice_none: str = "此账号不发提醒通知,客户再次来信前不会知道有回复"
    held_released: str = "#{ticket} {customer} 已再次来信,正在补发 {count} 条保留的回复"


class Config(Strict):
    server: ServerConfig = ServerConfig()
    storage: str = "sqlite:///kefu.db"
    bus: str = "memory://"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # each item validated by its platform's schema (adapters/<platform>/config.py): see _by_platform
    accounts: list[SerializeAsAny[Account]] = Field(min_length=1)
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
    faq: FaqConfig = FaqConfig()
    console: ConsoleConfig | None = None  # the supervisor's web console at /console/ (absent: none)

    @field_validator("accounts", mode="before")
    @classmethod
    def _by_platform(cls, v: Any, info: ValidationInfo) -> Any:
        """Each account by its own platform's schema, from the registry the loader passes as context."""
        if not isinstance(v, list):
            return v  # pydantic says what is wrong
        schemas: Mapping[str, type[Account]] = (info.context or {}).get(ACCOUNT_SCHEMAS, {})
        serves = ", ".join(sorted(schemas)) or "none is registered; install kefu (pip install -e .)"
        out: list[Any] = []
        problems: list[tuple[str, str]] = []
        for i, raw in enumerate(v):
            platform = raw.get("platform") if isinstance(raw, dict) else None
            if not isinstance(raw, dict):
                problems.append(
                    (f"accounts[{i}]", "Input should be a valid dictionary or object to extract fields from")
                )
            elif platform is None:
                problems.append((f"accounts[{i}].platform", f"is required ({serves})"))
            elif not isinstance(platform, str) or platform not in schemas:
                problems.append(
                    (f"accounts[{i}].platform", f"'{platform}' is not a platform kefu serves (it serves: {serves})")
                )
            else:
                try:
                    out.append(schemas[platform].model_validate(raw, context=info.context))
                except ValidationError as e:
                    problems += problems_of(e, f"accounts[{i}]")
        if problems:
            raise Problems(problems)
        return out

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
            raise Problems(problems)
        return self

    def account(self, name: str) -> Account:
        for a in self.accounts:
            if a.name == name:
                return a
        raise KeyError(name)
