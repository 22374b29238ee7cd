"""A loopback Standard Webhooks receiver for the queue tests: every POST recorded, deduped on webhook-id.

One sink serves every webhook channel of a test (the path names the channel). It records each POST's
arrival time and what it did with it, and can be scripted: a share of calls fails (5xx, a hang past
the client's timeout, or "commit, then drop the connection"), chosen webhook-ids are refused with a 4xx,
and an answer can be delayed after the commit so that a SIGKILL finds calls in flight.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET = "whsec_" + base64.b64encode(b"gongkai-integration-signing-key!").decode()
FAULTS = ("5xx", "hang", "commit-drop")


@dataclass(frozen=True)
class Post:
    arrived: float        # time.time() once the request was read
    channel: str          # /hooks/<channel>
    webhook_id: str
    verdict: str          # accepted | duplicate | commit-drop | refused | 5xx | hang | truncated | bad-signature
    answered_ok: bool     # a 2xx answer was written back (False for the dropped and hung ones)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # 16 worker threads connect at once; the default backlog of 5 drops SYNs

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a killed worker or a client timeout resets its connection: expected here, not news
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Sink:
    """Accepts each webhook-id once; a repeat gets the first answer again, as Standard Webhooks asks."""

    def __init__(self, *, secret: str = SECRET) -> None:
        self.key = base64.b64decode(secret.removeprefix("whsec_"))
        self.fail_rate = 0.0                       # share of verified POSTs that meet a fault
        self.random = random.Random(20261126)
        self.hang_seconds = 3.0
        self.latency = 0.0                         # seconds between the commit and the answer
        self.refuse: dict[str, tuple[int, str]] = {}  # webhook-id -> (status, problem title)
        self.posts: list[Post] = []
        self.events: dict[str, str] = {}           # webhook-id -> event id it was accepted as
        self.lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, channel: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/hooks/{channel}"

    def start(self) -> Sink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # --- what the tests read -------------------------------------------------------------------

    def accepted(self) -> set[str]:
        with self.lock:
            return set(self.events)

    def event_ids(self) -> set[str]:
        """The ids the sink answered with, one per accepted publication (a delivery's remote_id)."""
        with self.lock:
            return set(self.events.values())

    def posts_per_id(self) -> Counter[str]:
        with self.lock:
            return Counter(p.webhook_id for p in self.posts)

    def confirmed_per_id(self) -> Counter[str]:
        """How often each webhook-id got a 2xx back: more than once means a resend after a clean answer."""
        with self.lock:
            return Counter(p.webhook_id for p in self.posts if p.answered_ok)

    def verdicts(self) -> Counter[str]:
        with self.lock:
            return Counter(p.verdict for p in self.posts)

    def arrivals(self, channel: str | None = None) -> list[float]:
        with self.lock:
            return sorted(p.arrived for p in self.posts if channel in (None, p.channel))

    # --- the receiver --------------------------------------------------------------------------

    def _decide(self, webhook_id: str) -> str:
        with self.lock:
            if webhook_id in self.refuse:
                return "refused"
            if self.fail_rate and self.random.random() < self.fail_rate:
                return self.random.choice(FAULTS)
            return ""

    def _commit(self, webhook_id: str) -> tuple[str, str]:
        """Atomically: the event id, and whether this POST created it or repeated it."""
        with self.lock:
            if webhook_id in self.events:
                return self.events[webhook_id], "duplicate"
            self.events[webhook_id] = f"evt_{len(self.events) + 1}"
            return self.events[webhook_id], "accepted"

    def _record(self, arrived: float, channel: str, webhook_id: str, verdict: str, ok: bool) -> None:
        with self.lock:
            self.posts.append(Post(arrived, channel, webhook_id, verdict, ok))

    def _verified(self, headers: Any, body: bytes) -> bool:
        webhook_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "0")
        if not timestamp.isdigit() or abs(int(timestamp) - time.time()) > 300:
            return False
        signed = f"{webhook_id}.{timestamp}.".encode() + body
        expected = base64.b64encode(hmac.new(self.key, signed, hashlib.sha256).digest()).decode()
        return any(hmac.compare_digest(entry.partition(",")[2], expected)
                   for entry in headers.get("webhook-signature", "").split(" ") if entry.startswith("v1,"))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else keep-alive adds ~40 ms per request

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                arrived = time.time()
                channel = self.path.removeprefix("/hooks/")
                webhook_id = self.headers.get("webhook-id", "")
                if len(body) < length:  # the sender died mid-request (a SIGKILLed worker): nothing to act on
                    sink._record(arrived, channel, webhook_id, "truncated", False)
                    self.close_connection = True
                    return
                if body.startswith(b'{"type":"gongkai.check"'):  # a channel check, as the README asks: verified,
                    verified = sink._verified(self.headers, body)  # answered, never acted on or counted
                    self._answer(200 if verified else 401, {"title": "checked" if verified else "bad signature"})
                    return
                if not sink._verified(self.headers, body):
                    sink._record(arrived, channel, webhook_id, "bad-signature", False)
                    self._answer(401, {"title": "No matching signature found"})
                    return
                fault = sink._decide(webhook_id)
                if fault == "refused":
                    status, title = sink.refuse[webhook_id]
                    sink._record(arrived, channel, webhook_id, "refused", False)
                    self._answer(status, {"type": "about:blank", "title": title, "status": status})
                    return
                if fault == "5xx":
                    sink._record(arrived, channel, webhook_id, "5xx", False)
                    self._answer(sink.random.choice((500, 502, 503)), {"title": "upstream unavailable"})
                    return
                if fault == "hang":
                    sink._record(arrived, channel, webhook_id, "hang", False)
                    time.sleep(sink.hang_seconds)
                    self.close_connection = True
                    return
                event, verdict = sink._commit(webhook_id)
                if fault == "commit-drop":  # the receiver kept it; the answer never leaves
                    sink._record(arrived, channel, webhook_id, "commit-drop", False)
                    self.close_connection = True
                    return
                if sink.latency:
                    time.sleep(sink.latency)
                ok = self._answer(200, {"id": event})
                sink._record(arrived, channel, webhook_id, verdict, ok)

            def _answer(self, status: int, payload: dict[str, Any]) -> bool:
                data = json.dumps(payload, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    self.wfile.flush()
                except OSError:  # the client is gone (a killed worker)
                    self.close_connection = True
                    return False
                return True

        return Handler
