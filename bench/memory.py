"""Worker memory: RSS of one `celery -A worker worker` process after 1,000 deliveries and after 100,000.

Approved items are written in bulk with SQL (the rows `gongkai review` leaves: an approved item with its
索引号, its revision, a pending delivery per webhook channel), in batches while the worker runs (each
followed by ANALYZE, as autovacuum would), and
enqueued with the pipeline's own enqueue(); every delivery then goes through the real worker, Redis,
PostgreSQL and the loopback sink. RSS is read from /proc at checkpoints; the queue is kept a few thousand
messages deep so that prefetched messages do not count as memory growth.

    python bench/memory.py                           # 100,000 deliveries (or what fits in --max-seconds)
    python bench/memory.py --smoke                   # CI: 1,500 deliveries
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import (
    Platform,
    RedisServer,
    SinkProcess,
    database,
    make_platform,
    print_machine,
    print_table,
    published_count,
    rss_mb,
    seed_items,
    start_celery,
    stop,
    wait_for,
    write_config,
)
from throughput import Setup

from pipeline.engine.queueing import enqueue

CHECKPOINTS = (1_000, 3_000, 10_000, 30_000, 50_000, 100_000)


def analyze(p: Platform) -> None:
    """What autovacuum does after a bulk insert (it is off on the machine these figures come from): without
    fresh statistics the planner keeps plans made for a near-empty table (see BENCHMARKS.md)."""
    with p.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("ANALYZE item, item_revision, delivery")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--max-seconds", type=float, default=1500, help="stop at the last checkpoint reached by then")
    parser.add_argument("--setup", default="threads:32:1", help="pool:concurrency:prefetch of the worker")
    parser.add_argument("--smoke", action="store_true", help="CI: 1,500 deliveries")
    args = parser.parse_args()
    if args.smoke:
        args.deliveries = 1_500
    setup = Setup.parse(args.setup)
    batch = 1_000  # items per batch: 3,000 deliveries
    print_machine()
    samples: list[tuple[int, float, float]] = []  # (published, RSS MiB, seconds since start)
    with tempfile.TemporaryDirectory(prefix="gongkai-bench-") as tmp, database("memory") as db_url, \
            RedisServer(Path(tmp) / "redis") as redis, SinkProcess(Path(tmp)) as sink:
        p = make_platform(write_config(Path(tmp), db_url=db_url, broker_url=redis.url, sink=sink))
        worker = start_celery("worker", p.config, Path(tmp), "memory", pool=setup.pool,
                              concurrency=setup.concurrency, prefetch=setup.prefetch)
        try:
            started, seeded, queued = time.monotonic(), 0, 0
            checkpoints = [c for c in CHECKPOINTS if c < args.deliveries] + [args.deliveries]
            while checkpoints and time.monotonic() - started < args.max_seconds:
                done = published_count(p)
                if queued - done < 3 * batch and queued < args.deliveries:
                    count = min(batch, (args.deliveries - queued + 2) // 3)
                    ids = seed_items(p, seeded + 1, count)
                    seeded += count
                    analyze(p)
                    queued += enqueue(p.settings, p.engine, ids)
                if done >= checkpoints[0]:
                    samples.append((done, rss_mb(worker.pid), time.monotonic() - started))
                    print(f"  {done:,} published after {samples[-1][2]:.0f}s: worker RSS {samples[-1][1]:.1f} MiB",
                          flush=True)
                    checkpoints = [c for c in checkpoints if c > done]
                if worker.poll() is not None:
                    raise RuntimeError("the worker ended; see its log")
                time.sleep(0.2)
            wait_for(lambda: sink.stats()["posts"] >= published_count(p), timeout=60, what="the sink to agree")
            stats = sink.stats()
            assert stats["posts"] == stats["accepted"], stats  # one POST per delivery, all accepted
        finally:
            stop(worker)
            p.engine.dispose()
    first = samples[0]
    rows = [[f"{n:,}", f"{rss:.1f}", f"{100 * (rss / first[1] - 1):+.1f}%", f"{t:.0f}",
             f"{(n - samples[i - 1][0]) / (t - samples[i - 1][2]):.0f}" if i else ""]
            for i, (n, rss, t) in enumerate(samples)]
    print_table(f"Worker RSS ({setup}) by deliveries published (target: growth <= 10% from the first checkpoint)",
                ["published", "RSS MiB", "growth", "seconds", "deliveries/s since previous"], rows)


if __name__ == "__main__":
    main()
