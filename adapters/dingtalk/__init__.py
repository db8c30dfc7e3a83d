"""DingTalk (钉钉) enterprise robot: either role; custom group robots for notices."""

from adapters.dingtalk.adapter import DingTalkAdapter

ADAPTER = DingTalkAdapter
__all__ = ["ADAPTER", "DingTalkAdapter"]
