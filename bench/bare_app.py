"""The baseline of bench/throughput.py: `celery -A bare_app worker`, the same app and settings as worker.py, plus
a bare task that does only the HTTP POST of a delivery (no claim, no rendering, no ledger).

The POST is the webhook adapter's own publish(): the same bytes (a message rendered once per process from the
first item in the database, as a delivery of it would be), the same signing, headers, session per thread,
timeout and reply parsing; only the webhook-id differs per task, so that the sink accepts each one.
"""

from __future__ import annotations

import dataclasses
import threading

from common import BARE

from channels import Message
from pipeline.core.db import session_scope
from pipeline.core.models import Item, utcnow
from pipeline.items.compose import compose_message
from worker import app, engine  # the app, its configuration and its settings, exactly as deployed

_message: Message | None = None
_lock = threading.Lock()


def message() -> Message:
    """A delivery's rendered message, built once per process (not timed: this is not the pipeline's work)."""
    global _message
    with _lock:
        if _message is None:
            with session_scope(engine().db) as session:
                first = session.query(Item).order_by(Item.id).first()
                if first is None:
                    raise RuntimeError("the baseline renders its message from an item: submit one first")
                _message = compose_message(session, engine().settings, item_id=first.id, revision=1,
                                           channel="hook_a", approved_at=utcnow(), idempotency_key="bare")
        return _message


@app.task(name=BARE)
def post(number: int, channel: str) -> None:
    """Only the HTTP POST of one delivery to `channel`; any failure is an error, never retried."""
    adapter = engine().channels.get(channel)
    adapter.publish(dataclasses.replace(message(), idempotency_key=f"bare:{number}:{channel}"))
