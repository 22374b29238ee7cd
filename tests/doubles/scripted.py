"""An in-process channel whose answers are scripted per call: for the delivery engine's unit tests."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from channels import (
    AlreadyPublished,
    Channel,
    ChannelConfig,
    Message,
    OutcomeUnknown,
    PermanentChannelError,
    RateLimited,
    Receipt,
    TransientChannelError,
)

# what one publish() call does
OK, TRANSIENT, PERMANENT, LOST_ANSWER, LOST_REQUEST, THROTTLED, HAS_IT = (
    "ok", "transient", "permanent", "lost-answer", "lost-request", "throttled", "has-it")


class Scripted(Channel):
    """Publishes into `published` (key -> receipt); `script` is consumed one answer per publish call."""

    kind = "scripted"
    required_parts: ClassVar[tuple[str, ...]] = ()
    supports_withdraw = True
    supports_lookup = True
    script: ClassVar[list[str]] = []
    published: ClassVar[dict[str, Receipt]] = {}
    calls: ClassVar[list[tuple[str, str]]] = []  # (operation, idempotency key or remote id)
    lock: ClassVar[threading.Lock] = threading.Lock()

    class Config(ChannelConfig):
        pass

    def __init__(self, name: str, config: ChannelConfig, **services: Any) -> None:
        super().__init__(name, config)

    @classmethod
    def reset(cls, *script: str) -> None:
        """Script the answers of this class's channel; forget every publication and call."""
        cls.script[:] = list(script)
        if cls is Scripted:
            Undeletable.script.clear()
        cls.published.clear()
        cls.calls.clear()

    def publish(self, message: Message) -> Receipt:
        with self.lock:
            self.calls.append(("publish", message.idempotency_key))
            answer = self.script.pop(0) if self.script else OK
            receipt = Receipt(f"r-{message.idempotency_key}", f"https://example.test/{message.slug}")
            if answer in (OK, LOST_ANSWER):
                if message.idempotency_key in self.published:
                    raise AssertionError(f"published twice: {message.idempotency_key}")
                self.published[message.idempotency_key] = receipt
        if answer == OK:
            return receipt
        if answer == LOST_ANSWER:
            raise OutcomeUnknown("scripted: the answer was lost after the channel committed")
        if answer == LOST_REQUEST:
            raise OutcomeUnknown("scripted: the request was lost before the channel saw it")
        if answer == TRANSIENT:
            raise TransientChannelError("scripted: HTTP 503")
        if answer == THROTTLED:
            raise RateLimited("scripted: HTTP 429", retry_after=30)
        if answer == HAS_IT:
            raise AlreadyPublished("scripted: duplicate", receipt=receipt)
        raise PermanentChannelError("scripted: HTTP 400 invalid field 'title'")

    def lookup(self, message: Message) -> Receipt | None:
        with self.lock:
            self.calls.append(("lookup", message.idempotency_key))
            return self.published.get(message.idempotency_key)

    def withdraw(self, receipt: Receipt) -> None:
        with self.lock:
            self.calls.append(("withdraw", receipt.remote_id))
            key = receipt.remote_id.removeprefix("r-")
            self.published.pop(key, None)


class Undeletable(Scripted):
    """Like Scripted, but the channel cannot delete (as Weibo through its API)."""

    kind = "undeletable"
    supports_withdraw = False
    script: ClassVar[list[str]] = []  # its own answers; it shares `published` and `calls`
