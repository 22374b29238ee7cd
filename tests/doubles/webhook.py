"""A Standard Webhooks receiver (channel-apis.md §5.1, §5.2, §5.4): verifies, dedupes, can be scripted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from .server import Clock, DoubleServer, Request, Response

PATH = "/hooks/gongkai"


@dataclass
class Delivery:
    fingerprint: str      # sha256 of the body first accepted under this webhook-id
    response: Response    # what a repeat of the same delivery gets back


class WebhookReceiver:
    """Accepts each event once per `webhook-id`; `accepted` holds the payloads it acted on."""

    def __init__(
        self, *, secrets: list[str], clock: Clock | None = None, tolerance: float = 300.0,
        hang_seconds: float = 1.0, server: DoubleServer | None = None, return_ids: bool = False,
    ) -> None:
        self.secrets = list(secrets)            # several during a rotation: any may sign
        self.clock = clock or Clock()
        self.tolerance = tolerance
        self.return_ids = return_ids            # answer {"id": "evt_N"} instead of an empty 204
        self.accepted: list[dict[str, Any]] = []
        self.deliveries: dict[str, Delivery] = {}
        self.rejections: list[str] = []         # why each refused attempt was refused
        self.checks: list[str] = []             # webhook-ids of gongkai.check events answered
        # One entry per verified attempt: a Response sent without acting, or "commit-500" (act, then 500).
        self.script: list[Response | str] = []
        # A running `server` may be adopted: one listener per test module, since stopping one takes
        # the harness's 0.5 s poll interval.
        self.server = server or DoubleServer(self.handle, hang_seconds=hang_seconds)
        self.server.handle = self.handle
        self.server.faults.clear()
        self.server.requests.clear()

    @property
    def url(self) -> str:
        return self.server.base_url + PATH

    def start(self) -> WebhookReceiver:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def handle(self, request: Request) -> Response:
        if request.path != PATH:
            return Response(404)
        if request.method != "POST":
            return Response(405, headers={"Allow": "POST"})
        refusal = self._verify(request)
        if refusal is not None:
            self.rejections.append(refusal.body.decode())
            return refusal
        webhook_id = request.headers["webhook-id"]
        fingerprint = hashlib.sha256(request.body).hexdigest()
        step = self.script.pop(0) if self.script else None
        if isinstance(step, Response):
            return step
        seen = self.deliveries.get(webhook_id)
        if seen is not None:
            if seen.fingerprint != fingerprint:
                return _problem(422, "Idempotency-Key reused with a different payload")
            return seen.response
        event = json.loads(request.body)
        if not (isinstance(event, dict) and isinstance(event.get("data"), dict) and "type" in event):
            return _problem(400, "payload is not {type, timestamp, data}")
        if event["type"] == "gongkai.check":   # a channel check: answered, never acted on
            self.checks.append(webhook_id)
            return Response(204)
        self.accepted.append(event)
        ok = Response.json({"id": f"evt_{len(self.accepted)}"}) if self.return_ids else Response(204)
        self.deliveries[webhook_id] = Delivery(fingerprint, ok)
        return _problem(500, "crashed after processing") if step == "commit-500" else ok

    def _verify(self, request: Request) -> Response | None:
        """The checks of the reference verifier, plus the Idempotency-Key draft's header rules."""
        h = request.headers
        if not all(k in h for k in ("webhook-id", "webhook-timestamp", "webhook-signature")):
            return _problem(400, "Missing required headers")
        if h.get("idempotency-key") != _sf_string(h["webhook-id"]):
            return _problem(400, "Idempotency-Key missing or not the webhook-id as an RFC 8941 string")
        try:
            timestamp = int(h["webhook-timestamp"])
        except ValueError:
            return _problem(400, "Invalid Signature Headers")
        if timestamp < self.clock.now() - self.tolerance:
            return _problem(400, "Message timestamp too old")
        if timestamp > self.clock.now() + self.tolerance:
            return _problem(400, "Message timestamp too new")
        signed = f"{h['webhook-id']}.{timestamp}.".encode() + request.body
        expected = [base64.b64encode(hmac.new(_key(s), signed, hashlib.sha256).digest()).decode()
                    for s in self.secrets]
        for entry in h["webhook-signature"].split(" "):
            version, _, signature = entry.partition(",")
            if version == "v1" and any(hmac.compare_digest(signature, e) for e in expected):
                return None
        return _problem(401, "No matching signature found")


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def _sf_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _problem(status: int, title: str) -> Response:
    body = json.dumps({"type": "about:blank", "title": title, "status": status}).encode()
    return Response(status, body, {"Content-Type": "application/problem+json"})
