"""The Celery app: `celery -A worker worker` and `celery -A worker beat`.

Settings follow ../shared/reference/celery-redis-notes.md §1.1: at-least-once delivery on Redis
(acks_late, reject_on_worker_lost, a deliberate visibility timeout), no result backend. The database is
the source of truth; a message carries only a delivery id, and a duplicate finds nothing to claim.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import threading
from typing import Any

import redis
from celery import Celery
from celery.schedules import crontab
from kombu.transport import redis as kombu_redis

from pipeline.core.audit_key import AuditKeyError, keyed_engine, load_audit_key
from pipeline.core.clock import utcnow
from pipeline.core.config import load_settings
from pipeline.engine.alerts import check_freshness
from pipeline.engine.claims import Outcome
from pipeline.engine.delivery import hand_off_batch
from pipeline.engine.queueing import DELIVER, SWEEP, enqueue, sweep
from pipeline.engine.runtime import Engine
from pipeline.engine.takedown import take_down_owed


def _closed_broker_is_a_connection_error() -> None:
    """Keep the worker alive when Redis goes away with tasks in flight (Celery 5.7.0 / kombu 5.7.0).

    On connection loss Celery's consumer calls collect(), which detaches the transport (client = None),
    then close(); closing the channel restores unacked messages, kombu asks the detached transport for
    its host, and the AttributeError ends the worker ("Unrecoverable error") instead of reconnecting.
    Raised as a ConnectionError, it is handled like any broker outage on that path. Found by
    tests/integration (Redis SIGKILLed mid-run; about 1 run in 8 without this); the same traceback was
    reported as celery/kombu#582. Remove once kombu checks for a closed transport.
    """
    connparams = kombu_redis.Channel._connparams

    def checked(self: Any, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None:
            raise redis.exceptions.ConnectionError("the broker connection is already closed")
        return connparams(self, asynchronous)

    kombu_redis.Channel._connparams = checked


_M_ARENA_MAX = -8  # malloc.h's mallopt parameter


def _few_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas before the pool's threads start, unless MALLOC_ARENA_MAX says otherwise.

    glibc gives threads that allocate at once arenas of their own (up to 8 per core), and memory freed in one
    is not reused by another: at -c 32 a worker's RSS grew 12% over 100,000 deliveries, and 5.4% with two
    arenas, at the same speed (BENCHMARKS.md §5).
    """
    # with MALLOC_ARENA_MAX set, glibc has read it already; another C library has no such arenas
    if "MALLOC_ARENA_MAX" not in os.environ and platform.libc_ver()[0] == "glibc":
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, arenas)


log = logging.getLogger("gongkai.worker")
MONITOR = "gongkai.monitor"
_closed_broker_is_a_connection_error()
_few_malloc_arenas()
settings = load_settings()
try:  # a missing or open key stops the worker now, not at its first publication
    load_audit_key(settings.audit)
except AuditKeyError as e:
    raise SystemExit(str(e)) from None
queue = settings.queue
if not queue.broker_url:
    raise SystemExit("queue.broker_url is empty: set it (GONGKAI_QUEUE__BROKER_URL), or run `gongkai worker`, "
                     "which delivers from the database without a broker")

app = Celery("gongkai", broker=queue.broker_url)
app.conf.update(
    broker_connection_retry_on_startup=True,
    broker_transport_options={
        "visibility_timeout": queue.visibility_timeout,  # set in all three places (celery/celery#7651)
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
        "socket_timeout": 30,
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
        "health_check_interval": 25,
    },
    visibility_timeout=queue.visibility_timeout,
    result_backend_transport_options={"visibility_timeout": queue.visibility_timeout},
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,  # with acks_late: reserve only what runs (see BENCHMARKS.md)
    worker_cancel_long_running_tasks_on_connection_loss=False,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    worker_send_task_events=False,
    worker_soft_shutdown_timeout=10.0,
    beat_schedule={"sweep": {"task": SWEEP, "schedule": queue.sweep_interval},
                   # 00:30 UTC is 08:30 in Beijing: the office sees the day's breaches as it starts work
                   "monitor": {"task": MONITOR, "schedule": crontab(minute=30, hour=0)}},
)

_engine: Engine | None = None
_lock = threading.Lock()


def engine() -> Engine:
    """Built on first use in each worker process (after any fork)."""
    global _engine
    with _lock:
        if _engine is None:
            _engine = Engine.build(settings, keyed_engine(settings))
        return _engine


@app.task(name=DELIVER)
def deliver(delivery_ids: int | list[int]) -> None:
    """Deliver a batch (a single id: a message from before batches). The task ends once the batch is sent; its
    results are recorded by the worker's next group transaction, and a short wait is then a new message with a
    countdown (a long one is left to the sweep)."""
    ids = [delivery_ids] if isinstance(delivery_ids, int) else delivery_ids
    if not isinstance(ids, list) or not ids or not all(type(i) is int for i in ids):
        log.warning("message ignored: %r is not a list of delivery ids", delivery_ids)
        return
    hand_off_batch(engine(), ids, then=_retry_soon)


def _retry_soon(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        if outcome.retry_in is not None and outcome.retry_in <= queue.retry_cap:
            enqueue(settings, engine().db, [outcome.delivery_id], countdown=outcome.retry_in)


@app.task(name=SWEEP)
def sweep_due() -> int:
    """Enqueue deliveries that are due and not in flight (scheduled, retried, lost or abandoned); take down
    publications of withdrawn items that nobody took down."""
    sent = sweep(settings, engine().db)
    take_down_owed(engine())
    return sent


@app.task(name=MONITOR)
def monitor() -> int:
    """The daily freshness check: record every agency's breaches and send them to its notification channel."""
    checked = check_freshness(settings, engine().db, now=utcnow(), channels=engine().channels)
    return sum(c.breaches for c in checked)
