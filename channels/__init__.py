"""Channel adapters. One explicit registry: kind = module name = templates/<kind>/."""

from __future__ import annotations

from channels.base import Channel, ChannelConfig
from channels.disclosure import Disclosure
from channels.errors import (
    AlreadyPublished,
    ChannelError,
    ContentRejected,
    OutcomeUnknown,
    PermanentChannelError,
    RateLimited,
    TransientChannelError,
)
from channels.message import Message, Receipt
from channels.portal import Portal

# kind -> adapter class. Adapters register here by hand; nothing is discovered.
REGISTRY: dict[str, type[Channel]] = {
    "portal": Portal,
    "disclosure": Disclosure,
}

__all__ = [
    "REGISTRY",
    "AlreadyPublished",
    "Channel",
    "ChannelConfig",
    "ChannelError",
    "ContentRejected",
    "Message",
    "OutcomeUnknown",
    "PermanentChannelError",
    "RateLimited",
    "Receipt",
    "TransientChannelError",
]
