"""The loopback webhook sink of tests/integration/sink.py, run as a process of its own for the benchmarks.

Usage: sink_server.py PORT SECRET [LATENCY_MS]. Besides the receiver (POST /hooks/<channel>: signature checked, deduped
on webhook-id, answered 200 with an event id), GET /stats and GET /arrivals report what arrived, and
POST /reset forgets it. A process of its own so that the sink's CPU is not charged to the driver's GIL.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
from sink import Sink  # noqa: E402  (another engineer's receiver, imported unchanged)


class BenchSink(Sink):
    def _handler(self) -> type:
        base = super()._handler()
        sink = self

        class Handler(base):  # type: ignore[misc, valid-type]
            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/stats":
                    self._answer(200, sink.summary())
                elif self.path == "/arrivals":
                    self._answer(200, sink.arrivals())  # type: ignore[arg-type]
                else:
                    self._answer(404, {"title": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                if self.path == "/reset":
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    sink.forget()
                    self._answer(200, {})
                else:
                    super().do_POST()

        return Handler

    def summary(self) -> dict[str, Any]:
        with self.lock:
            accepted = [p.arrived for p in self.posts if p.verdict == "accepted"]
            verdicts: dict[str, int] = {}
            for post in self.posts:
                verdicts[post.verdict] = verdicts.get(post.verdict, 0) + 1
        return {"posts": sum(verdicts.values()), "accepted": len(accepted), "verdicts": verdicts,
                "first": min(accepted, default=None), "last": max(accepted, default=None)}

    def forget(self) -> None:
        with self.lock:
            self.posts.clear()
            self.events.clear()


def main() -> None:
    port, secret = int(sys.argv[1]), sys.argv[2]
    sink = BenchSink(secret=secret)
    sink.latency = float(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0.0  # a slower channel: answer after this
    sink._httpd.server_close()  # Sink binds a random port; rebind the one we were given
    sink._httpd = type(sink._httpd)(("127.0.0.1", port), sink._handler())
    sink._thread = threading.Thread(target=sink._httpd.serve_forever, daemon=True)
    sink.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print(f"sink on {sink.url('x')}", flush=True)
    stopped.wait()
    sink.stop()


if __name__ == "__main__":
    main()
