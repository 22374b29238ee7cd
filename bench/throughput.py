"""Deliveries per second through the whole pipeline against a bare Celery task doing only the same HTTP POST.

N approved items x 3 webhook channels go through a private redis-server, real `celery -A worker worker`
processes and PostgreSQL to the loopback sink (its own process). The baseline runs in the same script with
the same worker settings (worker.py's app and configuration, same pool, concurrency and prefetch) and the
same sink: `celery -A bare_app worker`, whose task only calls the webhook adapter's publish().

Both are pre-enqueued, then the worker starts; the rate is (accepted - 1) / (last - first arrival at the
sink), as in celery-redis-notes.md §5.2. Runs alternate baseline and pipeline so that drift (another test
suite on the machine) hits both; each pair is repeated and the medians are compared.

    python bench/throughput.py                      # the matrix: threads -c 8/16/32 x prefetch 1/4
    python bench/throughput.py --configs threads:32:1 --messages item --items 1000 --repeats 6
    python bench/throughput.py --configs threads:32:1 --items 500 --existing-items 100000   # a platform's history
    python bench/throughput.py --sink-latency-ms 200 ...   # a slower channel; --profile FILE: py-spy the worker
    python bench/throughput.py --smoke              # CI: 100 items, one configuration, one pair
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import spy
from celery import Celery
from common import (
    BARE,
    HOOKS,
    Platform,
    RedisServer,
    SinkProcess,
    approve_items,
    cpu_seconds,
    database,
    make_platform,
    median,
    pending_by_item,
    print_machine,
    print_table,
    published_count,
    seed_items,
    start_celery,
    stop,
    submit_items,
    wait_for,
    write_config,
)

from pipeline.engine.queueing import enqueue

MATRIX = [f"threads:{c}:{pf}" for pf in (1, 4) for c in (8, 16, 32)]


@dataclass(frozen=True)
class Setup:
    pool: str
    concurrency: int
    prefetch: int
    workers: int = 1
    messages: str = "item"  # item: one message per approval (its 3 deliveries); backlog: enqueue() of all at once

    @classmethod
    def parse(cls, text: str) -> Setup:
        pool, concurrency, prefetch, *workers = text.split(":")
        return cls(pool, int(concurrency), int(prefetch), int(workers[0]) if workers else 1)

    def __str__(self) -> str:
        return f"{self.pool} -c {self.concurrency}, prefetch {self.prefetch}" + \
            (f", {self.workers} workers" if self.workers > 1 else "") + f", messages per {self.messages}"


@dataclass(frozen=True)
class Run:
    rate: float           # deliveries/s, first -> last arrival at the sink
    cpu_ms: float         # worker CPU per delivery while delivering (all worker processes)
    busy: float           # share of the machine's CPU in use meanwhile (everyone's)
    db_rate: float = 0.0  # pipeline only: ledger entries/s, first -> last published_at
    pg_ms: float = 0.0    # PostgreSQL backends' CPU per delivery (the workers' connections to this database)


class CpuMeter:
    """Machine-wide CPU busy share between start() and stop(), from /proc/stat."""

    @staticmethod
    def _read() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields) - idle, sum(fields)

    def start(self) -> None:
        self.begin = self._read()

    def stop(self) -> float:
        busy, total = self._read()
        return (busy - self.begin[0]) / max(1, total - self.begin[1])


def backend_cpu(p: Platform) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving this run's database (the workers' connections)."""
    with p.engine.connect() as connection:
        pids = connection.exec_driver_sql("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                          "AND pid <> pg_backend_pid()").scalars().all()
    found = {}
    for pid in pids:
        try:
            found[pid] = cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return found


def deliver_and_measure(sink: SinkProcess, workers: list, total: int, timeout: float,
                        p: Platform) -> tuple[Run, dict]:
    """Wait for `total` accepted POSTs; CPU is counted from the first arrival on (not the worker's start-up)."""
    meter = CpuMeter()

    def reached(count: int) -> dict | None:
        if any(w.poll() is not None for w in workers):
            raise RuntimeError("a worker ended; see its log")
        stats = sink.stats()
        return stats if stats["accepted"] >= count else None

    stats = wait_for(lambda: reached(1), timeout=60, what="the first delivery", every=0.02)
    meter.start()
    cpu0, done0, pg0 = sum(cpu_seconds(w.pid) for w in workers), stats["accepted"], backend_cpu(p)
    stats = wait_for(lambda: reached(total), timeout=timeout, what=f"{total} deliveries at the sink")
    cpu1, pg1 = sum(cpu_seconds(w.pid) for w in workers), backend_cpu(p)
    busy = meter.stop()
    rate = (stats["accepted"] - 1) / (stats["last"] - stats["first"])
    done = max(1, stats["accepted"] - done0)
    pg = sum(seconds - pg0.get(pid, 0.0) for pid, seconds in pg1.items())
    return Run(rate, 1000 * (cpu1 - cpu0) / done, busy, pg_ms=1000 * pg / done), stats


def run_pipeline(p: Platform, redis: RedisServer, sink: SinkProcess, setup: Setup, items: int,
                 directory: Path, profile: Path | None = None) -> Run:
    started = time.monotonic()
    approve_items(p, items)
    groups = pending_by_item(p)
    due = [i for group in groups for i in group]
    approved = time.monotonic() - started
    with p.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("ANALYZE")  # what autovacuum would have done by now (it is off on the measured machine)
    before = published_count(p)
    sink.reset()
    started = time.monotonic()
    if setup.messages == "item":  # as each approval does: one message with the item's deliveries
        assert sum(enqueue(p.settings, p.engine, group) for group in groups) == len(due)
    else:  # as the sweep (or a review approving many items) does: messages of queue.batch_size deliveries
        assert enqueue(p.settings, p.engine, due) == len(due)
    queued = time.monotonic() - started
    workers = [start_celery("worker", p.config, directory, f"pipeline{i}", pool=setup.pool,
                            concurrency=setup.concurrency, prefetch=setup.prefetch) for i in range(setup.workers)]
    sampler = spy.record(workers[0].pid, profile) if profile else None
    try:
        run, stats = deliver_and_measure(sink, workers, len(due), timeout=30 + len(due) / 20, p=p)
        wait_for(lambda: published_count(p) >= before + len(due), timeout=60, what="every delivery recorded")
        wait_for(redis.idle, timeout=30, what="the broker idle")
    finally:
        if sampler is not None:
            spy.finish(sampler)
        for worker in workers:
            stop(worker)
    assert stats["accepted"] == stats["posts"] == len(due), stats  # one POST per delivery, nothing refused
    with p.engine.connect() as connection:
        first, last, count = connection.exec_driver_sql(
            "select extract(epoch from min(published_at)), extract(epoch from max(published_at)), count(*) "
            "from ledger_entry where delivery_id = any(%(ids)s)", {"ids": due}).one()
    assert count == len(due), f"{count} ledger entries for {len(due)} deliveries"
    print(f"  pipeline {setup}: {items} items approved in {approved:.1f}s, {len(due)} enqueued in {queued:.1f}s, "
          f"{run.rate:.0f}/s at the sink, {(count - 1) / float(last - first):.0f}/s in the ledger, "
          f"{run.cpu_ms:.2f} ms worker CPU and {run.pg_ms:.2f} ms PostgreSQL CPU per delivery, machine "
          f"{run.busy:.0%} busy", flush=True)
    return Run(run.rate, run.cpu_ms, run.busy, (count - 1) / float(last - first), run.pg_ms)


def run_baseline(p: Platform, redis: RedisServer, sink: SinkProcess, setup: Setup, total: int,
                 directory: Path) -> Run:
    sink.reset()
    with Celery("bench-producer", broker=redis.url) as producer:
        for number in range(total):
            producer.send_task(BARE, args=[number, HOOKS[number % len(HOOKS)]])
    workers = [start_celery("bare_app", p.config, directory, f"bare{i}", pool=setup.pool,
                            concurrency=setup.concurrency, prefetch=setup.prefetch) for i in range(setup.workers)]
    try:
        run, stats = deliver_and_measure(sink, workers, total, timeout=30 + total / 50, p=p)
        wait_for(redis.idle, timeout=30, what="the broker idle")
    finally:
        for worker in workers:
            stop(worker)
    assert stats["accepted"] == stats["posts"] == total, stats
    print(f"  baseline {setup}: {total} POSTs, {run.rate:.0f}/s at the sink, {run.cpu_ms:.2f} ms worker CPU "
          f"per POST, machine {run.busy:.0%} busy", flush=True)
    return run


def run_pair(redis: RedisServer, sink: SinkProcess, setup: Setup, items: int, directory: Path,
             profile: Path | None, *, baseline_first: bool, existing: int = 0) -> tuple[Run, Run]:
    """Baseline and pipeline on a new database (so that no run inherits another's rows), in either order;
    `existing` items are there before, published on the 3 channels (written in bulk), as on a platform that has
    run a while."""
    with database("throughput") as db_url:
        p = make_platform(write_config(directory, db_url=db_url, broker_url=redis.url, sink=sink))
        if existing:
            seed_items(p, 1, existing, status="published")
            with p.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql("VACUUM ANALYZE")
        submit_items(p, 1)  # the baseline's message is rendered from it; never approved, never delivered
        try:
            if baseline_first:
                bare = run_baseline(p, redis, sink, setup, items * len(HOOKS), directory)
                piped = run_pipeline(p, redis, sink, setup, items, directory, profile)
            else:
                piped = run_pipeline(p, redis, sink, setup, items, directory, profile)
                bare = run_baseline(p, redis, sink, setup, items * len(HOOKS), directory)
        except BaseException:
            for log in sorted(directory.glob("*.log")):
                print(f"--- {log.name}:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:]))
            raise
        finally:
            p.engine.dispose()
    return bare, piped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1000, help="items per pipeline run (x3 deliveries)")
    parser.add_argument("--repeats", type=int, default=2, help="baseline/pipeline pairs per configuration")
    parser.add_argument("--configs", default=",".join(MATRIX),
                        help="pool:concurrency:prefetch[:workers], comma-separated")
    parser.add_argument("--messages", default="item,backlog",
                        help="item (one message per approval), backlog (enqueue() of all: queue.batch_size each)")
    parser.add_argument("--smoke", action="store_true", help="CI: 100 items, threads:32:1, one pair")
    parser.add_argument("--sink-latency-ms", type=float, default=0.0,
                        help="the sink answers this late (a slower channel); 0: as fast as it can")
    parser.add_argument("--existing-items", type=int, default=0,
                        help="approved items already in the database before each run (a platform that has run a while)")
    parser.add_argument("--profile", type=Path, help="py-spy the first pipeline worker; collapsed stacks here")
    args = parser.parse_args()
    if args.smoke:
        args.items, args.repeats, args.configs, args.messages = 100, 1, "threads:32:1", "item"
    setups = [replace(Setup.parse(text), messages=messages) for text in args.configs.split(",")
              for messages in args.messages.split(",")]
    print_machine()
    results: dict[Setup, tuple[list[Run], list[Run]]] = {}
    with tempfile.TemporaryDirectory(prefix="gongkai-bench-") as tmp, RedisServer(Path(tmp) / "redis") as redis, \
            SinkProcess(Path(tmp), args.sink_latency_ms) as sink:
        for repeat in range(args.repeats):
            for number, setup in enumerate(setups):
                bare, piped = results.setdefault(setup, ([], []))
                directory = Path(tmp) / f"run-{repeat}-{number}"
                directory.mkdir()
                pair = run_pair(redis, sink, setup, args.items, directory, args.profile, baseline_first=repeat % 2 == 0,
                                existing=args.existing_items)
                bare.append(pair[0])
                piped.append(pair[1])
    rows = []
    for setup, (bare, piped) in results.items():
        b, q = median([r.rate for r in bare]), median([r.rate for r in piped])
        rows.append([setup.pool, setup.concurrency, setup.prefetch, setup.workers, setup.messages,
                     " / ".join(f"{r.rate:.0f}" for r in bare), " / ".join(f"{r.rate:.0f}" for r in piped),
                     b, q, f"{q / b:.2f}", f"{median([r.cpu_ms for r in bare]):.2f}",
                     f"{median([r.cpu_ms for r in piped]):.2f}", f"{median([r.pg_ms for r in piped]):.2f}"])
    slow = f", sink answering after {args.sink_latency_ms:.0f} ms" if args.sink_latency_ms else ""
    slow += f", {args.existing_items:,} items in the database before" if args.existing_items else ""
    print_table(f"Throughput: {args.items} items x {len(HOOKS)} webhook channels per run{slow}; deliveries/s at the "
                f"sink (first -> last arrival); median of {args.repeats} (target: ratio >= 0.9)",
                ["pool", "-c", "prefetch", "workers", "messages", "baseline runs", "pipeline runs", "baseline",
                 "pipeline", "ratio", "CPU ms/POST bare", "CPU ms/delivery", "PostgreSQL CPU ms/delivery"], rows)
    if args.profile:
        spy.print_summary(args.profile, top=40)


if __name__ == "__main__":
    main()
