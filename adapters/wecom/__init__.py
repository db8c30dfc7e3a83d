"""WeCom (企业微信) self-built app: desk side, and group notices."""

from adapters.wecom.adapter import WeComAdapter

ADAPTER = WeComAdapter
__all__ = ["ADAPTER", "WeComAdapter"]
