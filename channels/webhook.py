"""Generic webhook: a signed JSON event per publication (Standard Webhooks, channel-apis.md §5)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, SecretStr, field_validator

from channels.base import Channel, ChannelConfig
from channels.errors import ChannelError, ContentRejected, PermanentChannelError, TransientChannelError
from channels.http import json_body, raise_for_status, send
from channels.message import Finding, Message, Receipt

CHECK_TYPE = "gongkai.check"  # the event of `gongkai channels check`: a receiver answers 2xx and does nothing


class Webhook(Channel):
    """POSTs `{"type","timestamp","data"}` signed per Standard Webhooks; `webhook-id` is the idempotency key.

    The body is built only from the message, so every attempt sends the same bytes (receivers that
    fingerprint an Idempotency-Key answer 422 to a changed body); only `webhook-timestamp` and the
    signature change per attempt. `data.html` carries the rendered `payload.html` part when the template
    has one; there is no `payload.json` part because JSON envelopes are built here, not in templates.

    There is no way to ask a receiver what it has (`supports_lookup` is False), but none is needed:
    receivers dedupe on `webhook-id`, so after OutcomeUnknown the delivery engine may resend the same
    message (`resend_is_idempotent`); a receiver that already has it answers 2xx again.
    """

    kind = "webhook"
    resend_is_idempotent = True

    class Config(ChannelConfig):
        url: str = Field(description="receiver endpoint (https); redirects are not followed")
        secret: SecretStr = Field(description="signing secret shared with the receiver, whsec_<base64>")
        event_type: str = Field("content.published", description="value of the payload's `type`")

        @field_validator("secret")
        @classmethod
        def _whsec(cls, value: SecretStr) -> SecretStr:
            raw = value.get_secret_value()
            try:
                key = base64.b64decode(raw.removeprefix("whsec_"), validate=True)
            except binascii.Error:
                key = b""
            if not raw.startswith("whsec_") or not key:
                raise ValueError("must be whsec_ followed by the base64 of the key")
            return value

    config: Config

    def check(self, message: Message) -> None:
        """Also require an idempotency key that fits a header and an RFC 8941 string (printable ASCII)."""
        super().check(message)
        key = message.idempotency_key
        if not key or not all(" " <= c <= "~" for c in key):
            raise ContentRejected(f"{self.name}: idempotency key {key!r} is not printable ASCII")

    def publish(self, message: Message) -> Receipt:
        self.check(message)
        return self._post(message.idempotency_key, self._body(message))

    def send_event(self, event_id: str, event_type: str, timestamp: str, data: dict[str, Any]) -> Receipt:
        """POST any other event (e.g. the monitor's breaches), signed alike; `event_id` is its webhook-id."""
        if not event_id or not all(" " <= c <= "~" for c in event_id):
            raise ContentRejected(f"{self.name}: event id {event_id!r} is not printable ASCII")
        event = {"type": event_type, "timestamp": timestamp, "data": data}
        return self._post(event_id, json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))

    def _post(self, webhook_id: str, body: bytes) -> Receipt:
        response = send(
            self.session, "POST", self.config.url, channel=self.name, timeout=self.config.timeout,
            creates=True, data=body, headers=self._headers(webhook_id, body),
        )
        status, detail = response.status_code, response.text  # the receiver's own words go to the dead letter
        if status == 409:
            raise TransientChannelError(f"{self.name}: HTTP 409, the receiver is still processing it", detail=detail)
        if status == 410:
            raise PermanentChannelError(f"{self.name}: HTTP 410, the endpoint is gone; disable it", detail=detail)
        if status == 422:
            raise PermanentChannelError(f"{self.name}: HTTP 422, idempotency key reused with another body",
                                        detail=detail)
        raise_for_status(response, channel=self.name)
        reply = json_body(response)
        remote_id = reply.get("id") if isinstance(reply, dict) else None
        return Receipt(str(remote_id) if remote_id not in (None, "") else webhook_id)

    def _headers(self, webhook_id: str, body: bytes, key: bytes | None = None) -> dict[str, str]:
        """The Standard Webhooks headers of one attempt, signed with the channel's secret (or `key`)."""
        timestamp = str(int(time.time()))
        key = key or base64.b64decode(self.config.secret.get_secret_value().removeprefix("whsec_"))
        signature = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
        return {
            "Content-Type": "application/json; charset=utf-8",
            "webhook-id": webhook_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": "v1," + base64.b64encode(signature).decode("ascii"),
            "Idempotency-Key": '"' + webhook_id.replace("\\", "\\\\").replace('"', '\\"') + '"',
        }

    def probe(self) -> list[Finding]:
        """A `gongkai.check` event signed with the secret must be accepted, and one signed with another key
        refused: the receiver answers, shares the secret and verifies signatures."""
        event = {"type": CHECK_TYPE, "timestamp": datetime.now(UTC).isoformat(timespec="seconds"), "data": {}}
        body = json.dumps(event, separators=(",", ":")).encode("utf-8")
        answers = []
        for key in (None, os.urandom(32)):
            webhook_id = f"check_{uuid.uuid4().hex}"
            try:
                answers.append(send(self.session, "POST", self.config.url, channel=self.name,
                                    timeout=self.config.timeout, data=body,
                                    headers=self._headers(webhook_id, body, key)).status_code)
            except ChannelError as e:
                return [Finding("receiver", False, e.message, "check url and that this machine can reach it")]
        signed, forged = answers
        if signed in (400, 401, 403):
            return [Finding("signature", False, f"a correctly signed event was refused (HTTP {signed})",
                            f"give the receiver the same whsec_ secret as channels.{self.name}.secret")]
        if not 200 <= signed < 300:
            return [Finding("receiver", False, f"HTTP {signed} to a check event",
                            "the receiver must answer 2xx to events of type gongkai.check")]
        if 200 <= forged < 300:
            return [Finding("signature", False, "an event signed with another key was accepted",
                            "the receiver must verify webhook-signature and refuse what does not match")]
        return [Finding("receiver", True, f"answered HTTP {signed}"),
                Finding("signature", True, f"checked (a forged one got HTTP {forged})")]

    def payload(self, message: Message) -> dict[str, Any]:
        """The signed JSON event (headers aside)."""
        return json.loads(self._body(message))

    def _body(self, message: Message) -> bytes:
        data = {
            "title": message.title,
            "index_no": message.index_no,
            "canonical_url": message.canonical_url,
            "published_on": message.published_on.isoformat(),
            "category": message.category,
            "kind": message.kind,
            "metadata": dict(message.metadata),
            "summary": message.summary,
        }
        if "payload.html" in message.parts:
            data["html"] = message.parts["payload.html"]
        event = {
            "type": self.config.event_type,
            # The publication date (Asia/Shanghai), not the send time: the body must not change on retry.
            "timestamp": f"{message.published_on.isoformat()}T00:00:00+08:00",
            "data": data,
        }
        return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
