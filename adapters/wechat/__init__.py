"""WeChat Official Account (公众号): customer side."""

from adapters.wechat.adapter import WeChatAdapter

ADAPTER = WeChatAdapter
__all__ = ["ADAPTER", "WeChatAdapter"]
