"""Approval -> all channels published, at half the measured peak rate: p50 / p95 / p99.

First the peak: a backlog of approved items (3 webhook channels each) drained by one worker, as in
bench/throughput.py. Then, with a new worker of the same settings, items are approved open-loop at half that
rate: each item was submitted and passed the first two review levels beforehand; at its scheduled time a
producer thread passes the last level (the approval commits) and hands the item over as `gongkai review`
does (its due deliveries enqueued). An item's latency is from the approval's commit to the last of its
three ledger entries (published_at, written when the channel's answer is recorded).

    python bench/latency.py                  # peak from 600 items, then 60 s at half of it
    python bench/latency.py --smoke          # CI: peak from 100 items, then 10 s
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import (
    LEVEL_OF,
    REVIEWERS,
    Platform,
    RedisServer,
    SinkProcess,
    acting,
    database,
    make_platform,
    percentile,
    print_machine,
    print_table,
    published_count,
    review,
    start_celery,
    stop,
    submit_items,
    wait_for,
    write_config,
)
from sqlmodel import select
from throughput import Setup, run_pipeline

from pipeline.core.db import session_scope
from pipeline.core.models import Decision, Delivery, DeliveryStatus, utcnow
from pipeline.engine.queueing import enqueue
from pipeline.items import workflow

WARMUP = 10  # items approved (and published) before the measured ones: the worker's pools fill up


def approve_and_hand_over(p: Platform, item_id: int) -> float:
    """The last review level, then what `gongkai review` does after the commit; returns the commit's time."""
    with session_scope(p.engine) as session:
        workflow.review_item(session, settings=p.settings, agency_code="tjj", item_id=item_id,
                             actor=acting(session, REVIEWERS[-1]), decision=Decision.APPROVE,
                             level=LEVEL_OF[REVIEWERS[-1]], revision=1,
                             late_reason="基准测试样例")  # bench items are formed 1 March (bench/common.py)
    approved = time.time()
    with session_scope(p.engine) as session:
        due = list(session.exec(select(Delivery.id).where(Delivery.item_id == item_id,
                                                          Delivery.status == DeliveryStatus.PENDING,
                                                          Delivery.next_attempt_at <= utcnow())))
    enqueue(p.settings, p.engine, due)
    return approved


def open_loop(p: Platform, items: list[int], rate: float) -> dict[int, float]:
    """Approve `items` at `rate` per second on a fixed schedule (late approvals do not shift the next ones)."""
    approved: dict[int, float] = {}
    lock = threading.Lock()

    def one(item_id: int) -> None:
        at = approve_and_hand_over(p, item_id)
        with lock:
            approved[item_id] = at

    start = time.monotonic() + 0.2
    with ThreadPoolExecutor(max_workers=4) as pool:
        for number, item_id in enumerate(items):
            delay = start + number / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, item_id)
    return approved


def published_at(p: Platform, items: list[int]) -> dict[int, list[float]]:
    with p.engine.connect() as connection:
        rows = connection.exec_driver_sql("select item_id, extract(epoch from published_at) from ledger_entry "
                                          "where item_id = any(%(ids)s)", {"ids": items}).all()
    found: dict[int, list[float]] = {}
    for item_id, at in rows:
        found.setdefault(item_id, []).append(float(at))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setup", default="threads:32:1", help="pool:concurrency:prefetch of the worker")
    parser.add_argument("--peak-items", type=int, default=600, help="backlog used to measure the peak")
    parser.add_argument("--seconds", type=float, default=60, help="length of the open-loop run")
    parser.add_argument("--share", type=float, default=0.5, help="share of the peak to offer")
    parser.add_argument("--smoke", action="store_true", help="CI: peak from 100 items, then 10 s")
    args = parser.parse_args()
    if args.smoke:
        args.peak_items, args.seconds = 100, 10
    setup = Setup.parse(args.setup)
    print_machine()
    with tempfile.TemporaryDirectory(prefix="gongkai-bench-") as tmp, database("latency") as db_url, \
            RedisServer(Path(tmp) / "redis") as redis, SinkProcess(Path(tmp)) as sink:
        directory = Path(tmp)
        p = make_platform(write_config(directory, db_url=db_url, broker_url=redis.url, sink=sink))
        try:
            peak = run_pipeline(p, redis, sink, setup, args.peak_items, directory).rate
            rate = peak * args.share / 3  # items per second: 3 deliveries each
            count = WARMUP + int(rate * args.seconds)
            items = submit_items(p, count)
            review(p, items, REVIEWERS[:-1])
            before = published_count(p)
            worker = start_celery("worker", p.config, directory, "latency", pool=setup.pool,
                                  concurrency=setup.concurrency, prefetch=setup.prefetch)
            try:
                for item_id in items[:WARMUP]:
                    approve_and_hand_over(p, item_id)
                wait_for(lambda: published_count(p) >= before + 3 * WARMUP, timeout=60, what="the warm-up")
                started = time.monotonic()
                approved = open_loop(p, items[WARMUP:], rate)
                offered = time.monotonic() - started
                wait_for(lambda: published_count(p) >= before + 3 * count, timeout=120, what="every publication")
            finally:
                stop(worker)
            published = published_at(p, items[WARMUP:])
        finally:
            p.engine.dispose()
    latencies = [1000 * (max(published[i]) - at) for i, at in approved.items()]
    per_delivery = [1000 * (t - approved[i]) for i, times in published.items() for t in times]
    assert all(len(times) == 3 for times in published.values()) and len(published) == len(approved)
    print_table(f"Latency, approval -> all 3 channels published, {setup}; offered {len(approved) / offered:.1f} "
                f"items/s = {3 * len(approved) / offered:.0f} deliveries/s for {offered:.0f} s, "
                f"{args.share:.0%} of the peak of {peak:.0f} deliveries/s measured just before (target: p99 <= 250 ms)",
                ["measured", "items", "p50 ms", "p95 ms", "p99 ms", "max ms"],
                [["item: last of its 3 channels", len(latencies), *(percentile(latencies, q) for q in (.5, .95, .99)),
                  max(latencies)],
                 ["each delivery", len(per_delivery), *(percentile(per_delivery, q) for q in (.5, .95, .99)),
                  max(per_delivery)]])


if __name__ == "__main__":
    main()
