"""The embedded dispatcher: without a broker, the delivery table is the queue.

Threads claim due deliveries straight from the database and run the same deliver_batch() a Celery
worker runs. Nothing is held in memory that the table does not also hold, so a crash costs a delay
(the lease), never a publication.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from pipeline.core.db import session_scope
from pipeline.engine.claims import ERROR, Outcome
from pipeline.engine.delivery import batches, deliver_batch, due_deliveries
from pipeline.engine.runtime import Engine

log = logging.getLogger("gongkai.dispatcher")


def run_dispatcher(engine: Engine, *, until_idle: bool, stop: threading.Event | None = None,
                   poll: float = 0.5) -> list[Outcome]:
    """Deliver everything due; with until_idle, return once nothing is due or in flight."""
    stop = stop or threading.Event()
    outcomes: list[Outcome] = []
    in_flight: dict[Future[list[Outcome]], list[int]] = {}
    busy: set[int] = set()
    with ThreadPoolExecutor(max_workers=engine.settings.queue.threads, thread_name_prefix="deliver") as pool:
        while not stop.is_set():
            with session_scope(engine.db) as session:
                due = [i for i in due_deliveries(session, now=engine.clock(), grace=0) if i not in busy]
            for batch in batches(due, engine.settings.queue.batch_size):
                in_flight[pool.submit(deliver_batch, engine, batch)] = batch
                busy.update(batch)
            if not in_flight:
                if until_idle:
                    break
                stop.wait(poll)
                continue
            done, _ = wait(list(in_flight), timeout=poll, return_when=FIRST_COMPLETED)
            for future in done:
                batch = in_flight.pop(future)
                busy.difference_update(batch)
                outcomes.extend(_results(batch, future))
    return outcomes


def _results(batch: list[int], future: Future[list[Outcome]]) -> list[Outcome]:
    try:
        return future.result()
    except Exception as e:  # noqa: BLE001  (one batch's bug must not stop the others)
        log.exception("deliveries %s failed in the dispatcher", batch)
        return [Outcome(delivery_id, ERROR, detail=str(e)) for delivery_id in batch]
