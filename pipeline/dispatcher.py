"""The embedded dispatcher: without a broker, the delivery table is the queue.

Threads claim due deliveries straight from the database and run the same deliver_one() a Celery
worker runs. Nothing is held in memory that the table does not also hold, so a crash costs a delay
(the lease), never a publication.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from pipeline.db import session_scope
from pipeline.delivery import Engine, Outcome, deliver_one, due_deliveries

log = logging.getLogger("gongkai.dispatcher")


def run_dispatcher(engine: Engine, *, until_idle: bool, stop: threading.Event | None = None,
                   poll: float = 0.5) -> list[Outcome]:
    """Deliver everything due; with until_idle, return once nothing is due or in flight."""
    stop = stop or threading.Event()
    outcomes: list[Outcome] = []
    in_flight: dict[int, Future[Outcome]] = {}
    with ThreadPoolExecutor(max_workers=engine.settings.queue.threads, thread_name_prefix="deliver") as pool:
        while not stop.is_set():
            with session_scope(engine.db) as session:
                due = [i for i in due_deliveries(session, now=engine.clock(), grace=0) if i not in in_flight]
            for delivery_id in due:
                in_flight[delivery_id] = pool.submit(deliver_one, engine, delivery_id)
            if not in_flight:
                if until_idle:
                    break
                stop.wait(poll)
                continue
            done, _ = wait(in_flight.values(), timeout=poll, return_when=FIRST_COMPLETED)
            for delivery_id, future in list(in_flight.items()):
                if future in done:
                    del in_flight[delivery_id]
                    outcomes.append(_result(delivery_id, future))
    return outcomes


def _result(delivery_id: int, future: Future[Outcome]) -> Outcome:
    try:
        return future.result()
    except Exception as e:  # noqa: BLE001  (one delivery's bug must not stop the others)
        log.exception("delivery %s failed in the dispatcher", delivery_id)
        return Outcome(delivery_id, "error", detail=str(e))
