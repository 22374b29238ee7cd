"""Sina Weibo: post the rendered status text with `statuses/share` (channel-apis.md §2)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import requests
from pydantic import Field, SecretStr

from channels.base import Channel, ChannelConfig
from channels.errors import (
    AlreadyPublished,
    ChannelError,
    ContentRejected,
    OutcomeUnknown,
    PermanentChannelError,
    RateLimited,
    TransientChannelError,
)
from channels.http import json_body, raise_for_status, send
from channels.message import Finding, Message, Receipt

BUSY = frozenset({10001, 10002, 10003, 10009, 10010, 10011})
HOURLY_LIMIT = frozenset({10022, 10023, 10024})     # per IP / per user / per API, counted by the hour
POSTING_TOO_OFTEN = 20016
DELAYED = 20032                                     # "Update success, while server slow now"
DUPLICATE = frozenset({20017, 20019, 20111})        # similar / identical content / repeated text
REAUTHORISE = frozenset({21301, 21314, 21315, 21316, 21317, 21327, 21332})
HOUR = 3600.0           # the window may be rolling: waiting a full hour is the only safe choice
MINUTES = 300.0         # 20016 is a burst limit ("minutes"); five is a conservative guess
TIMELINE_COUNT = 100    # the API's page maximum: at 30 posts/hour it covers the last ~3 hours


class Weibo(Channel):
    """Posts `status.txt` (which must carry the canonical portal link) to the authorised account.

    Weibo has no idempotency key. After an ambiguous attempt, `lookup` searches the account's recent
    timeline for the exact text; a re-post answered with a duplicate code (20017/20019/20111) is
    reconciled the same way. A post accepted with 20032 ("posted, delayed") has no id yet: its receipt
    is `delayed:<idempotency key>`, never a Weibo id, so nothing can mistake it for one; `lookup` can
    replace it once the status is visible. Known limit: if Weibo rewrites links in the text it returns
    (t.cn short links) the exact-text search finds nothing and a duplicate becomes a permanent error for
    a human to resolve, never a second post.
    """

    kind = "weibo"
    max_body_chars = 140    # 140 汉字, counting every character (Latin, URL) as a whole one: §2.3 is vague
    body_part = "status.txt"
    required_parts = ("status.txt",)
    supports_lookup = True

    class Config(ChannelConfig):
        base_url: str = Field("https://api.weibo.com", description="Weibo API origin")
        access_token: SecretStr = Field(description="OAuth2 user token of the agency's authorised account")
        # No default: Weibo wants the acting user's real IP, and a placeholder such as 127.0.0.1 may
        # get the account flagged (10004/20022); only the deployment knows its egress address.
        rip: str = Field(description="public IP of the publishing server, sent as Weibo's `rip`")

    config: Config

    def check(self, message: Message) -> None:
        """Measure the text as sent; refuse it without the canonical link (Weibo needs a bound URL)."""
        if "status.txt" in message.parts:
            message = replace(message, parts={**message.parts, "status.txt": _status(message)})
        super().check(message)
        if message.canonical_url not in message.parts["status.txt"]:
            raise ContentRejected(f"{self.name}: status.txt does not contain {message.canonical_url}")

    def publish(self, message: Message) -> Receipt:
        self.check(message)
        response = send(
            self.session, "POST", self._url("statuses/share.json"), channel=self.name,
            timeout=self.config.timeout, creates=True, headers=self._auth(),
            data=self.payload(message),
        )
        body, code = _envelope(response)
        if code == DELAYED:
            return Receipt(f"delayed:{message.idempotency_key}")
        if code in DUPLICATE:
            found = self.lookup(message)
            if found is None:
                raise PermanentChannelError(
                    f"{self.name}: Weibo reports duplicate content ({code}) but the recent timeline has no "
                    "status with this exact text", detail=response.text,
                )
            raise AlreadyPublished(f"{self.name}: already on Weibo ({code})", receipt=found)
        self._raise_for_error(response, code)
        receipt = _receipt(body)
        if receipt is None:
            raise OutcomeUnknown(
                f"{self.name}: HTTP {response.status_code} without a status id", detail=response.text
            )
        return receipt

    def payload(self, message: Message) -> dict[str, Any]:
        """The form fields of statuses/share (the token travels in the Authorization header)."""
        return {"status": _status(message), "rip": self.config.rip}

    def lookup(self, message: Message) -> Receipt | None:
        """Find the status with exactly this text among the account's recent posts."""
        response = send(
            self.session, "GET", self._url("statuses/user_timeline.json"), channel=self.name,
            timeout=self.config.timeout, headers=self._auth(), params={"count": TIMELINE_COUNT},
        )
        body, code = _envelope(response)
        self._raise_for_error(response, code)
        text = _status(message)
        statuses = body.get("statuses", []) if isinstance(body, dict) else []
        for status in statuses:
            if isinstance(status, dict) and str(status.get("text", "")).strip() == text:
                return _receipt(status)
        return None

    def probe(self) -> list[Finding]:
        """The token read back the account's timeline (one status): it is accepted and not expired."""
        try:
            response = send(self.session, "GET", self._url("statuses/user_timeline.json"), channel=self.name,
                            timeout=self.config.timeout, headers=self._auth(), params={"count": 1})
            body, code = _envelope(response)
            self._raise_for_error(response, code)
        except ChannelError as e:
            fix = (f"re-authorise the account and set channels.{self.name}.access_token" if "token" in e.message
                   or "401" in e.message or "403" in e.message else "check base_url and the network")
            return [Finding("access token", False, e.message, fix)]
        return [Finding("access token", True, "the account's timeline was read")]

    def _url(self, path: str) -> str:
        return f"{self.config.base_url.rstrip('/')}/2/{path}"

    def _auth(self) -> dict[str, str]:
        # The header keeps the token out of form bodies and query strings that end up in logs.
        return {"Authorization": f"OAuth2 {self.config.access_token.get_secret_value()}"}

    def _raise_for_error(self, response: requests.Response, code: int | None) -> None:
        if code is None:
            raise_for_status(response, channel=self.name)
            return
        error = f"{self.name}: Weibo error {code}"
        detail = response.text
        exc: ChannelError
        if code in BUSY:
            exc = TransientChannelError(error, detail=detail)
        elif code in HOURLY_LIMIT:
            exc = RateLimited(f"{error} (hourly limit)", retry_after=HOUR, detail=detail)
        elif code == POSTING_TOO_OFTEN:
            exc = RateLimited(f"{error} (posting too often)", retry_after=MINUTES, detail=detail)
        elif code in REAUTHORISE:
            exc = PermanentChannelError(f"{error}: token invalid; re-authorise the account", detail=detail)
        elif response.status_code >= 500:
            exc = TransientChannelError(error, detail=detail)
        else:
            exc = PermanentChannelError(error, detail=detail)
        raise exc


def _status(message: Message) -> str:
    return message.parts["status.txt"].strip()


def _envelope(response: requests.Response) -> tuple[Any, int | None]:
    """The JSON body and its `error_code` (a string or a number, in any HTTP status), if any."""
    body = json_body(response)
    raw = body.get("error_code") if isinstance(body, dict) else None
    try:
        return body, None if raw is None else int(raw)
    except (TypeError, ValueError):
        return body, -1


def _receipt(status: Any) -> Receipt | None:
    """Receipt from a status object: `idstr` (`id` is an int64), and the URL when the user id is known."""
    idstr = status.get("idstr") if isinstance(status, dict) else None
    if not isinstance(idstr, str) or not idstr:
        return None
    user = status.get("user")
    uid = (user.get("idstr") or user.get("id")) if isinstance(user, dict) else None
    return Receipt(idstr, f"https://weibo.com/{uid}/{idstr}" if uid else None)
