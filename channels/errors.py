"""Typed channel errors: each names the decision it forces on the delivery engine."""

from __future__ import annotations

from channels.message import Receipt


class ChannelError(Exception):
    """Base of every error an adapter raises; no library exception escapes `channels/`."""

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail[:2000]


class TransientChannelError(ChannelError):
    """Retry later: timeouts, connection errors, 5xx, vendor "busy"."""


class RateLimited(TransientChannelError):
    """Retry after the time the channel asked for."""

    def __init__(self, message: str, *, retry_after: float, detail: str = "") -> None:
        super().__init__(message, detail=detail)
        self.retry_after = retry_after


class PermanentChannelError(ChannelError):
    """Give up and dead-letter: 4xx, bad credentials, content refused."""


class ChannelMisconfigured(PermanentChannelError):
    """The channel's own setup is wrong (credentials, site configuration): nothing of this message was sent, and
    no other message can go either until it is fixed; the engine pauses the channel instead of giving up."""


class ContentRejected(PermanentChannelError):
    """The message breaks a declared capability of the channel; nothing was sent."""


class OutcomeUnknown(ChannelError):
    """The call may have succeeded: look the publication up before sending again. `handle`: the channel's id for
    the work the call started, when it is known (a WeChat publish job), kept by the engine and handed back to
    lookup() in Message.handle."""

    def __init__(self, message: str, *, detail: str = "", handle: str = "") -> None:
        super().__init__(message, detail=detail)
        self.handle = handle


class AlreadyPublished(ChannelError):
    """The channel says it has the publication already: record success with its receipt."""

    def __init__(self, message: str, *, receipt: Receipt, detail: str = "") -> None:
        super().__init__(message, detail=detail)
        self.receipt = receipt

