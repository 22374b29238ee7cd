"""A loopback HTTP server harness for channel doubles: a controllable clock and scripted faults."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class Clock:
    """Wall time plus an offset the test moves forward, so tokens can expire mid-run."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, **headers: str) -> Response:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return cls(status, data, {"Content-Type": "application/json; charset=utf-8", **headers})


# What a fault does to one request:
#   "drop"         close the connection without an answer, before doing anything
#   "commit-drop"  do the work (the side effect is kept), then close without an answer
#   "hang"         sleep past any sane client timeout, then close
#   ("status", N)  answer HTTP N without doing anything
Fault = str | tuple[str, int]


class DoubleServer:
    """Serves `handle(request) -> Response` on 127.0.0.1 in a thread; faults are scripted per call."""

    def __init__(self, handle: Callable[[Request], Response], *, hang_seconds: float = 5.0) -> None:
        self.handle = handle
        self.hang_seconds = hang_seconds
        self.faults: list[Fault] = []            # consumed one per request, in order
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> DoubleServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def next_fault(self, request: Request | None = None) -> Fault | None:
        """The fault for this request (the scripted ones in order); `request` lets a subclass aim by path."""
        with self.lock:
            return self.faults.pop(0) if self.faults else None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else keep-alive adds ~40 ms per request

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()}, body,
                )
                with server.lock:
                    server.requests.append(request)
                fault = server.next_fault(request)
                if fault == "drop":
                    self.close_connection = True
                    return
                if fault == "hang":
                    time.sleep(server.hang_seconds)
                    self.close_connection = True
                    return
                if isinstance(fault, tuple):
                    response = Response(fault[1], b"")
                else:
                    response = server.handle(request)
                if fault == "commit-drop":
                    self.close_connection = True
                    return
                self.send_response(response.status)
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

        return Handler
