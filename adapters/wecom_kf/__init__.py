"""WeCom 微信客服 (kf): WeChat users write to a kf account; kefu pulls their messages with sync_msg."""

from adapters.wecom_kf.adapter import WeComKfAdapter

ADAPTER = WeComKfAdapter
__all__ = ["ADAPTER", "WeComKfAdapter"]
