"""Channel adapters. One explicit registry: kind = module name = templates/<kind>/."""

from __future__ import annotations

from channels.base import Channel, ChannelConfig
from channels.disclosure import Disclosure
from channels.errors import (
    AlreadyPublished,
    ChannelError,
    ChannelMisconfigured,
    ContentRejected,
    OutcomeUnknown,
    PermanentChannelError,
    RateLimited,
    TransientChannelError,
)
from channels.message import Finding, Message, Receipt
from channels.portal import Portal
from channels.webhook import Webhook
from channels.wechat import WeChat
from channels.weibo import Weibo
from channels.wordpress import WordPress

# kind -> adapter class. Adapters register here by hand; nothing is discovered.
REGISTRY: dict[str, type[Channel]] = {
    "portal": Portal,
    "disclosure": Disclosure,
    "wechat": WeChat,
    "weibo": Weibo,
    "wordpress": WordPress,
    "webhook": Webhook,
}

__all__ = [
    "REGISTRY",
    "AlreadyPublished",
    "Channel",
    "ChannelConfig",
    "ChannelError",
    "ChannelMisconfigured",
    "ContentRejected",
    "Finding",
    "Message",
    "OutcomeUnknown",
    "PermanentChannelError",
    "RateLimited",
    "Receipt",
    "TransientChannelError",
]
