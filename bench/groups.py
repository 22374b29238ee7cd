"""What the delivery engine's own work costs per delivery, by the size of a group commit, in one thread.

Batches of an item's 3 webhook deliveries are claimed, sent to the loopback sink and recorded, as a worker's
threads do when they ask at once (pipeline/engine/grouping.py): each transaction claims N batches and records the N
sent just before, calling claims.commit_batch directly: no Celery, no other thread. Each phase is
timed with the thread's CPU clock, so that a wait for PostgreSQL or the sink is not counted; "send" (the
webhook adapter's POST) is the yardstick the bookkeeping (claims and records) is compared with. Rounds
alternate the sizes; the table gives each phase's lowest figure over the rounds (the least disturbed by
whatever else ran).

    python bench/groups.py                         # groups of 1, 4 and 16 batches, 240 batches each, 4 rounds
    python bench/groups.py --smoke                 # CI: 20 batches per size, 1 round
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import (
    SinkProcess,
    database,
    make_platform,
    pending_by_item,
    print_machine,
    print_table,
    seed_items,
    submit_items,
    write_config,
)

from pipeline.core.audit_key import keyed_engine
from pipeline.engine import claims, delivery

PHASES = ("commit", "send")


def measure(engine: delivery.Engine, batches: list[list[int]], size: int) -> dict[str, float]:
    """CPU ms per delivery of each phase, for `batches` claimed `size` at a time, each group's results recorded in
    the transaction that claims the next group."""
    spent = dict.fromkeys(PHASES, 0.0)
    sent: list[list[claims.Result]] = []
    for start in range(0, len(batches) + size, size):
        requests = batches[start:start + size]
        claiming = [claims.ClaimRequest(tuple(ids)) for ids in requests]
        recording = [claims.RecordRequest(tuple(r)) for r in sent]
        began = time.thread_time()
        committed = claims.commit_batch(engine.db, engine.settings, engine.clock, [*claiming, *recording])
        kept = time.thread_time()
        if any(o.status != "published" for outcomes in committed.outcomes.values() for o in outcomes):
            raise RuntimeError(f"not all published: {committed.outcomes}")
        sent = [[delivery._try(engine, job) for job in committed.jobs[request]] for request in claiming]
        spent["commit"] += kept - began
        spent["send"] += time.thread_time() - kept
    count = sum(len(ids) for ids in batches)
    return {phase: 1000 * seconds / count for phase, seconds in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,4,16", help="batches per group, comma-separated")
    parser.add_argument("--batches", type=int, default=240, help="batches (items) per size and round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--smoke", action="store_true", help="CI: 20 batches per size, 1 round")
    args = parser.parse_args()
    if args.smoke:
        args.batches, args.rounds = 20, 1
    sizes = [int(size) for size in args.sizes.split(",")]
    print_machine()
    warm = 20
    with tempfile.TemporaryDirectory(prefix="gongkai-bench-") as tmp, SinkProcess(Path(tmp)) as sink, \
            database("groups") as url:
        p = make_platform(write_config(Path(tmp), db_url=url, sink=sink))
        submit_items(p, 1)
        seed_items(p, 100, args.batches * len(sizes) * args.rounds + warm)
        with p.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")
        batches = pending_by_item(p)
        engine = delivery.Engine.build(p.settings, keyed_engine(p.settings))
        try:
            measure(engine, batches[:warm], 1)  # the first batches fill the caches
            batches = batches[warm:]
            best: dict[int, dict[str, float]] = {}
            for round_ in range(args.rounds):
                for number, size in enumerate(sizes):
                    start = (round_ * len(sizes) + number) * args.batches
                    figures = measure(engine, batches[start:start + args.batches], size)
                    low = best.setdefault(size, figures)
                    best[size] = {phase: min(low[phase], figures[phase]) for phase in PHASES}
        finally:
            engine.db.dispose()
            p.engine.dispose()
    print_table(f"CPU ms per delivery by group size: batches of 3 webhook deliveries, {args.batches} batches per "
                f"size, lowest of {args.rounds} rounds, one thread, PostgreSQL",
                ["batches claimed and recorded per transaction", "deliveries per transaction",
                 "claim + record", "send (POST)", "claim + record / send"],
                [[size, 2 * 3 * size, f["commit"], f["send"], f"{f['commit'] / f['send']:.2f}"]
                 for size, f in best.items()])


if __name__ == "__main__":
    main()
