"""The channel contract: a rendered message in, a receipt out, or a typed error."""

from __future__ import annotations

import difflib
import hashlib
import threading
from typing import Any, ClassVar

import requests
from pydantic import BaseModel, ConfigDict, Field

from channels.errors import ContentRejected, OutcomeUnknown, PermanentChannelError
from channels.message import Finding, Message, Receipt


class ChannelConfig(BaseModel):
    """Settings every channel section has; adapters subclass this with their own keys."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="Adapter: portal, disclosure, wordpress, wechat, weibo or webhook.")
    enabled: bool = Field(True, description="false keeps the section but sends nothing to it.")
    rate_limit: float | None = Field(
        None, gt=0, description="Publications per second, shared by all workers; empty for no limit."
    )
    timeout: float = Field(15.0, gt=0, description="Seconds one HTTP call may take.")


class Channel:
    """One destination. Capabilities are class data, checked before any network call."""

    kind: ClassVar[str]
    Config: ClassVar[type[ChannelConfig]] = ChannelConfig
    max_title_chars: ClassVar[int | None] = None
    max_body_chars: ClassVar[int | None] = None
    max_summary_chars: ClassVar[int | None] = None
    body_part: ClassVar[str] = ""          # which rendered part is the body whose length is limited
    required_parts: ClassVar[tuple[str, ...]] = ()
    supports_withdraw: ClassVar[bool] = False
    supports_lookup: ClassVar[bool] = False
    needs_cover: ClassVar[bool] = False
    # the receiver dedupes on the idempotency key: after an unanswered call, sending again is the lookup
    resend_is_idempotent: ClassVar[bool] = False
    # a static site's own pages (home, category), rebuilt from its entry list, not rendered per message
    index_templates: ClassVar[tuple[str, ...]] = ()
    # the publication can be read back and compared with what was sent (verify)
    supports_verify: ClassVar[bool] = False

    def __init__(self, name: str, config: ChannelConfig, **services: Any) -> None:
        self.name = name
        self.config = config
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        """One requests.Session per thread (Sessions are not documented as thread-safe)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def check(self, message: Message) -> None:
        """Refuse, before any network call, a message this channel cannot carry faithfully."""
        missing = [p for p in self.required_parts if p not in message.parts]
        if missing:
            raise ContentRejected(f"{self.name}: rendered part(s) missing: {', '.join(missing)}")
        if self.max_title_chars is not None and len(message.title) > self.max_title_chars:
            raise ContentRejected(
                f"{self.name}: title has {len(message.title)} characters, "
                f"the channel allows {self.max_title_chars}"
            )
        body = message.parts.get(self.body_part, "")
        if self.max_body_chars is not None and len(body) > self.max_body_chars:
            raise ContentRejected(
                f"{self.name}: body has {len(body)} characters, the channel allows {self.max_body_chars}"
            )
        if self.max_summary_chars is not None and len(message.summary) > self.max_summary_chars:
            raise ContentRejected(
                f"{self.name}: summary has {len(message.summary)} characters, "
                f"the channel allows {self.max_summary_chars}"
            )
        if self.needs_cover and message.cover is None:
            raise ContentRejected(f"{self.name}: a cover image is required")

    def payload(self, message: Message) -> dict[str, Any]:
        """What publish() sends (for `gongkai preview`); adapters with a vendor envelope return that."""
        return dict(message.parts)

    def publish(self, message: Message) -> Receipt:
        """Publish once; raise a ChannelError subclass on anything but confirmed success."""
        raise NotImplementedError

    def withdraw(self, receipt: Receipt) -> None:
        """Take a publication down (only where supports_withdraw)."""
        raise PermanentChannelError(f"{self.name}: this channel cannot withdraw a publication")

    def lookup(self, message: Message) -> Receipt | None:
        """After an unknown outcome: the publication's receipt if the channel has it, else None."""
        raise OutcomeUnknown(f"{self.name}: this channel cannot look a publication up")

    def verify(self, message: Message, receipt: Receipt) -> str | None:
        """Read the live publication back: None if it is what `message` publishes, else what differs."""
        raise PermanentChannelError(f"{self.name}: this channel cannot read a publication back")

    def probe(self) -> list[Finding]:
        """Harmless live calls proving what the first delivery needs (`gongkai channels check`); never raises."""
        return [Finding("live check", True, "this kind of channel has no live check")]


def difference(what: str, live: str, sent: str) -> str | None:
    """None if the live text is the sent one, else what differs: the hashes and the first changed lines."""
    if live == sent:
        return None
    digest = lambda text: hashlib.sha256(text.encode()).hexdigest()[:12]  # noqa: E731
    changed = [line for line in difflib.unified_diff(sent.splitlines(), live.splitlines(), lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    shown = " | ".join(line[:120] for line in changed[:4])
    return f"{what} differs from the approved revision (sha256 {digest(live)} live, {digest(sent)} approved): {shown}"
