"""Handing work to whoever delivers it: Celery workers through Redis, or the in-process dispatcher.

The broker only carries delivery ids, and only after the transaction that created the work has
committed. If a message is lost anyway, the sweep finds the delivery again.
"""

from __future__ import annotations

import logging
from functools import cache

import sqlalchemy as sa
from celery import Celery

from pipeline.core.config import Settings
from pipeline.core.db import session_scope
from pipeline.core.models import utcnow
from pipeline.engine.delivery import batches, due_deliveries, mark_enqueued

log = logging.getLogger("gongkai.queue")
DELIVER = "gongkai.deliver"
SWEEP = "gongkai.sweep"


@cache
def _producer(broker_url: str) -> Celery:
    app = Celery("gongkai-producer", broker=broker_url)
    app.conf.update(task_serializer="json", broker_connection_retry_on_startup=True,
                    task_publish_retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5})
    return app


def enqueue(settings: Settings, db: sa.Engine, delivery_ids: list[int], *, countdown: float | None = None) -> int:
    """Send the ids in messages of up to queue.batch_size (after commit). A failed send is logged: the sweep
    covers it."""
    if not settings.queue.broker_url or not delivery_ids:
        return 0
    producer = _producer(settings.queue.broker_url)
    sent: list[int] = []
    try:
        for batch in batches(delivery_ids, settings.queue.batch_size):
            producer.send_task(DELIVER, args=[batch], countdown=countdown)
            sent.extend(batch)
    except Exception as e:  # noqa: BLE001  (the broker is down: the sweep will enqueue them later)
        missed = len(delivery_ids) - len(sent)
        log.warning("could not enqueue %d deliveries (%s); the sweep will pick them up", missed, e)
    try:
        with session_scope(db) as session:
            mark_enqueued(session, sent, utcnow())
    except sa.exc.DBAPIError as e:  # the messages are out; the hint only spares the sweep a duplicate message
        log.warning("sent %d deliveries but could not mark them enqueued (%s)", len(sent), e)
    return len(sent)


def sweep(settings: Settings, db: sa.Engine) -> int:
    """Enqueue what is due and not in flight: scheduled items now due, retries, lost messages, dead workers."""
    with session_scope(db) as session:
        ids = due_deliveries(session, now=utcnow(), grace=settings.queue.sweep_grace)
    return enqueue(settings, db, ids)
