"""Chaos run: a mixed workload under faults, then a check that nothing was lost or published twice.

For M minutes the driver submits items (some scheduled a little ahead), passes them through the three
review levels, withdraws some scheduled ones before they are due and replays dead letters, while it
SIGKILLs celery workers at random, SIGKILLs and restarts its own redis-server, crashes its own PostgreSQL
cluster (bench/pgcluster.py: `pg_ctl stop -m immediate`, down for a few seconds, then started again, which
runs crash recovery) while the workload goes on, and the webhook receiver fails (5xx, hangs past the
client's timeout), throttles (429 with Retry-After) and "commits, then drops the connection"; every item also
goes to a WeChat double (tests/doubles/wechat.py) whose publish jobs sometimes outlast the adapter's polls,
whose first status poll sometimes answers -1, and which loses some freepublish/submit answers after accepting
them: each must end published once with no operator action (docs/engine.md, "Doubt"). Then the
faults stop, the queue drains, and the invariants are checked and printed as a table; the exit status is 1
if any fails.

    python bench/chaos.py               # 5 minutes
    python bench/chaos.py --minutes 10
    python bench/chaos.py --smoke       # CI: about 45 s of chaos, then the drain and the check
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from common import (
    BODY,
    LEVEL_OF,
    REVIEWERS,
    ROOT,
    SECRET,
    RedisServer,
    acting,
    make_platform,
    print_machine,
    print_table,
    start_celery,
    stop,
    wait_for,
    write_config,
)
from pgcluster import RECOVERY, PgCluster
from sqlmodel import select

sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "tests"))
from doubles.wechat import WeChatDouble  # noqa: E402  (the tests' WeChat double, imported unchanged)
from sink import Sink  # noqa: E402  (the integration tests' receiver, imported unchanged)

from pipeline.core.clock import beijing_today  # noqa: E402
from pipeline.core.db import session_scope  # noqa: E402
from pipeline.core.models import (  # noqa: E402
    Attempt,
    Decision,
    Delivery,
    DeliveryStatus,
    EntryType,
    Item,
    ItemStatus,
    LedgerEntry,
    utcnow,
)
from pipeline.engine.delivery import replay_delivery  # noqa: E402
from pipeline.engine.queueing import enqueue  # noqa: E402
from pipeline.items import workflow  # noqa: E402
from pipeline.items.itemfile import ItemRecord, ItemSpec  # noqa: E402

QUEUE = {"visibility_timeout": 120, "lease_seconds": 60, "retry_base": 0.2, "retry_cap": 10.0,
         "sweep_interval": 1.0, "sweep_grace": 10.0, "max_attempts": 25, "threads": 8,
         "lookup_base": 0.5, "lookup_cap": 5.0}
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c63fccf00000301010018dd8db40000000049454e44ae426082")
WORKERS = 2
FAULT_RATE, THROTTLE_RATE = 0.15, 0.08


class ChaosSink(Sink):
    """The integration sink, plus throttling: a share of verified POSTs gets 429 with Retry-After."""

    def __init__(self) -> None:
        super().__init__(secret=SECRET)
        self.throttle_rate = 0.0
        self.hang_seconds = 6.0  # past the webhook channel's 5 s timeout

    def _handler(self) -> type:
        base = super()._handler()
        sink = self

        class Handler(base):  # type: ignore[misc, valid-type]
            def do_POST(self) -> None:  # noqa: N802
                with sink.lock:
                    throttle = sink.throttle_rate and sink.random.random() < sink.throttle_rate
                if not throttle:
                    super().do_POST()
                    return
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink._record(time.time(), self.path.removeprefix("/hooks/"), self.headers.get("webhook-id", ""),
                             "throttled", False)
                self.send_response(429)
                self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler

    def accepted_posts(self) -> Counter[str]:
        with self.lock:
            return Counter(p.webhook_id for p in self.posts if p.verdict == "accepted")


class Chaos:
    """The platform, its processes and the faults of one run."""

    def __init__(self, directory: Path, cluster: PgCluster, seed: int) -> None:
        self.directory = directory
        self.random = random.Random(seed)
        self.cluster = cluster
        self.pg_restart: threading.Thread | None = None
        self.pg_down: list[float] = []  # seconds from each crash until PostgreSQL accepted connections again
        self.pg_error: BaseException | None = None
        db_url = cluster.create_database("gongkai_chaos")
        self.redis = RedisServer(directory / "redis").__enter__()
        self.sink = ChaosSink().start()
        self.wechat = WeChatDouble(app_id="wx00000000c4a05000", hang_seconds=6.0).start()
        self.wechat.daily_quotas = {path: 10**6 for path in self.wechat.daily_quotas}
        self.wechat.job_seconds = 5.0  # a job ends by itself too, polled or not
        (directory / "cover.png").write_bytes(PNG)
        section = {"kind": "wechat", "base_url": self.wechat.base_url, "app_id": self.wechat.app_id,
                   "app_secret": self.wechat.app_secret, "cover": str(directory / "cover.png"),
                   "poll_attempts": 2, "poll_interval": 0.2, "timeout": 5.0}
        extra = "\n[channels.wechat]\n" + "".join(f'{k} = {v if isinstance(v, (int, float)) else repr(str(v))}\n'
                                                  .replace("'", '"') for k, v in section.items())
        config = write_config(directory, db_url=db_url, broker_url=self.redis.url, sink=self.sink, queue=QUEUE,
                              extra=extra)
        config.write_text(config.read_text(encoding="utf-8").replace(
            'channels = ["portal", "disclosure", ', 'channels = ["portal", "disclosure", "wechat", ').replace(
            "default_channels = [", 'default_channels = ["wechat", '), encoding="utf-8")
        config.chmod(0o600)  # it holds the channels' signing secret
        self.platform = make_platform(config)
        self.settings, self.engine = self.platform.settings, self.platform.engine
        self.workers = [self._worker(n) for n in range(WORKERS)]
        self.beat = self._beat()
        self.faults: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.scheduled: list[tuple[int, float]] = []  # (item id, publish time) of approved scheduled items
        self.refused: set[str] = set()
        self.exited: list[str] = []  # workers found dead that no fault killed
        self.step_errors: Counter[str] = Counter()  # workload steps that failed on other database errors

    def _worker(self, n: int) -> subprocess.Popen[bytes]:
        return start_celery("worker", self.platform.config, self.directory, f"worker{n}", concurrency=8)

    def _beat(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_")}
        env.update(GONGKAI_CONFIG=str(self.platform.config), PYTHONUNBUFFERED="1")
        with open(self.directory / "beat.log", "ab") as log:
            return subprocess.Popen([sys.executable, "-m", "celery", "-A", "worker", "beat", "-l", "WARNING",
                                     "-s", str(self.directory / "beat-schedule")], cwd=ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def close(self) -> None:
        if self.pg_restart is not None:
            self.pg_restart.join(timeout=300)  # a start in progress ends before the cluster is removed
        for proc in [*self.workers, self.beat]:
            stop(proc, grace=5)
        self.redis.__exit__()
        self.sink.stop()
        self.wechat.stop()
        self.engine.dispose()

    # --- faults ---------------------------------------------------------------------------------------

    def kill_worker(self) -> None:
        self.exited += [f"worker{n} (exit {w.returncode})" for n, w in enumerate(self.workers) if w.poll() is not None]
        n = self.random.randrange(len(self.workers))
        os.killpg(self.workers[n].pid, signal.SIGKILL)
        self.workers[n].wait(timeout=10)
        self.workers[n] = self._worker(n)
        self.faults["worker SIGKILLed"] += 1

    def restart_redis(self) -> None:
        assert self.redis.process is not None
        os.killpg(self.redis.process.pid, signal.SIGKILL)
        self.redis.process.wait(timeout=10)
        time.sleep(self.random.uniform(1, 4))
        self.redis.__enter__()  # same port and directory: the AOF brings the queue back
        self.faults["redis SIGKILLed and restarted"] += 1

    def restart_postgres(self) -> None:
        """Crash PostgreSQL in a thread of its own, so that the workload meets the outage as a CLI user would."""
        if self.pg_restart is None or not self.pg_restart.is_alive():
            self.pg_restart = threading.Thread(target=self._restart_postgres, args=(self.random.uniform(1, 4),),
                                               name="postgres-restart", daemon=True)
            self.pg_restart.start()

    def _restart_postgres(self, down_for: float) -> None:
        started = time.monotonic()
        try:
            self.cluster.restart(mode="immediate", down_for=down_for)
        except BaseException as e:  # noqa: BLE001  (reported by the driver, which ends the run)
            self.pg_error = e
            return
        self.pg_down.append(time.monotonic() - started)
        self.faults["postgres crashed and restarted"] += 1

    def wait_postgres(self) -> None:
        """Wait for a restart in progress; raise if one failed (the server did not come back)."""
        if self.pg_restart is not None:
            self.pg_restart.join(timeout=300)
        if self.pg_error is not None:
            raise RuntimeError("PostgreSQL did not come back after a crash") from self.pg_error

    # --- workload -------------------------------------------------------------------------------------

    def submit(self, count: int) -> list[int]:
        now = utcnow()
        records = []
        for i in range(count):
            later = self.random.random() < 0.25
            publish_at = now + timedelta(seconds=self.random.uniform(30, 60)) if later else None
            spec = ItemSpec(title=f"2026年第{self.counts['submitted'] + i + 1}期统计信息", category="通知公告",
                            kind="notice", created_on=beijing_today(), publish_at=publish_at)
            records.append(ItemRecord("chaos.md", 1, spec, BODY, {}))
        with session_scope(self.engine) as session:
            done = workflow.submit_items(session, settings=self.settings, agency_code="tjj",
                                         actor=acting(session, "zhangsan"), records=records)
        self.counts["submitted"] += count
        return [d.item_id for d in done]

    def review(self, item_ids: list[int]) -> None:
        for reviewer in REVIEWERS:
            with session_scope(self.engine) as session:
                for item_id in item_ids:
                    workflow.review_item(session, settings=self.settings, agency_code="tjj", item_id=item_id,
                                         actor=acting(session, reviewer), decision=Decision.APPROVE,
                                         level=LEVEL_OF[reviewer], revision=1)
        self.counts["approved"] += len(item_ids)
        with session_scope(self.engine) as session:
            rows = session.exec(select(Delivery.id, Delivery.item_id, Delivery.next_attempt_at,
                                       Delivery.idempotency_key).where(Delivery.item_id.in_(item_ids))).all()
        now = utcnow()
        due = [d for d, _, at, _ in rows if at <= now]
        keys = [key for *_, key in rows]
        self.scheduled += list({(i, at.timestamp()) for _, i, at, _ in rows if at > now})
        for key in keys:  # a few publications the channel refuses for good: dead letters, replayed later
            if self.random.random() < 0.01:
                with self.sink.lock:
                    self.sink.refuse[key] = (400, "payload refused by the receiver")
                self.refused.add(key)
        enqueue(self.settings, self.engine, due)  # after the commit, as `gongkai review` does

    def withdraw_scheduled(self) -> None:
        """Withdraw an approved item at least 15 s before it is due: its deliveries are cancelled."""
        ready = [(i, t) for i, t in self.scheduled if t - time.time() > 15]
        if not ready:
            return
        item_id, when = self.random.choice(ready)
        self.scheduled.remove((item_id, when))
        with session_scope(self.engine) as session:
            workflow.withdraw_item(session, settings=self.settings, agency_code="tjj", item_id=item_id,
                                   actor=acting(session, REVIEWERS[-1]), reason="chaos: withdrawn before publication")
        self.counts["withdrawn"] += 1

    def replay_dead(self) -> None:
        """Let the receiver accept some refused publications again, and replay those dead letters."""
        with session_scope(self.engine) as session:
            dead = session.exec(select(Delivery.id, Delivery.idempotency_key)
                                .where(Delivery.status == DeliveryStatus.DEAD)).all()
            chosen = [(i, key) for i, key in dead if self.random.random() < 0.5]
            for delivery_id, key in chosen:
                with self.sink.lock:
                    self.sink.refuse.pop(key, None)
                replay_delivery(session, delivery_id=delivery_id, now=utcnow(), actor=acting(session, "qianqi"))
        if chosen:
            enqueue(self.settings, self.engine, [i for i, _ in chosen])
        self.counts["dead letters replayed"] += len(chosen)

    def step(self) -> None:
        """One round of CLI work; a round the PostgreSQL outage cuts short is abandoned, as a user would
        give up on a failed command (what it committed stays, and the sweep sends what it approved)."""
        try:
            ids = self.submit(self.random.randint(2, 6))
            self.review(ids[: max(1, len(ids) - 1)])  # one may stay in review
            if self.random.random() < 0.3:
                self.withdraw_scheduled()
            if self.random.random() < 0.1:
                self.replay_dead()
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as e:
            message = str(e.orig or e).splitlines()[0]
            state = getattr(e.orig, "sqlstate", None) or ""
            if state[:2] in ("", "08", "57"):  # no server answer, a connection exception, or shutting/starting
                self.counts["steps cut by postgres"] += 1
            else:  # not the restart: a deadlock, say; shown in the table
                self.step_errors[message] += 1
            print(f"workload step cut short: {message}", file=sys.stderr)
            time.sleep(0.5)


def run(minutes: float, seed: int, logs: Path | None) -> int:
    with tempfile.TemporaryDirectory(prefix="gongkai-chaos-") as folder, PgCluster() as cluster:
        print(f"run's database: a private PostgreSQL {cluster.version} cluster on 127.0.0.1:{cluster.port} "
              "(fsync on, synchronous_commit on)")
        chaos = Chaos(Path(folder), cluster, seed)
        try:
            return drive(chaos, minutes)
        finally:
            chaos.close()
            if logs is not None:
                keep_logs(Path(folder), cluster, logs)


def keep_logs(folder: Path, cluster: PgCluster, logs: Path) -> None:
    """Copy the run's logs (workers, beat, redis, PostgreSQL) before their directories are removed."""
    logs.mkdir(parents=True, exist_ok=True)
    for path in [*folder.glob("*.log"), *folder.glob("redis/*.log"), cluster.log]:
        if path.exists():
            shutil.copy(path, logs / path.name)
    print(f"logs kept in {logs}")


def drive(chaos: Chaos, minutes: float) -> int:
    chaos.sink.fail_rate, chaos.sink.throttle_rate = FAULT_RATE, THROTTLE_RATE
    chaos.wechat.slow_jobs = chaos.wechat.first_poll_errors = 0.2
    chaos.wechat.server.lost_answers["freepublish/submit"] = 0.05
    faults = {"worker": (chaos.kill_worker, 8, 20), "redis": (chaos.restart_redis, 40, 70),
              "postgres": (chaos.restart_postgres, 15, 35)}
    started = time.monotonic()
    next_fault = {name: started + chaos.random.uniform(low, high) for name, (_, low, high) in faults.items()}
    while time.monotonic() - started < minutes * 60:
        chaos.step()
        for name, (fault, low, high) in faults.items():
            if time.monotonic() >= next_fault[name]:
                fault()
                next_fault[name] = time.monotonic() + chaos.random.uniform(low, high)
        if chaos.pg_error is not None:
            chaos.wait_postgres()  # raises: the server did not come back
        time.sleep(chaos.random.uniform(0.2, 0.8))
    chaos.wait_postgres()
    chaos.sink.fail_rate = chaos.sink.throttle_rate = 0.0
    chaos.wechat.slow_jobs = chaos.wechat.first_poll_errors = 0.0
    chaos.wechat.server.lost_answers.clear()
    chaos.replay_dead()
    workload = time.monotonic() - started
    settled = wait_settled(chaos)
    return report(chaos, workload, settled)


def wait_settled(chaos: Chaos) -> bool:
    """Wait until no delivery is pending, sending, waiting to retry or unknown without a person asked (a cut try
    waits out its lease; an unknown outcome is looked up again by itself)."""
    def settled() -> bool:
        with chaos.engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(Delivery).where(
                sa.or_(Delivery.status.in_(["pending", "sending", "retry_wait"]),
                       sa.and_(Delivery.status == "unknown", Delivery.manual_action.is_(None))))).scalar_one() == 0
    try:
        wait_for(settled, timeout=300, what="every delivery in a final state", every=1.0)
    except TimeoutError:
        return False
    return True


def report(chaos: Chaos, workload: float, settled: bool) -> int:
    with session_scope(chaos.engine) as session:
        deliveries = list(session.exec(select(Delivery)))
        approved = session.exec(select(sa.func.count()).select_from(Item).where(
            Item.status.in_([ItemStatus.APPROVED, ItemStatus.WITHDRAWN]), Item.index_no.is_not(None))).one()
        submitted = session.exec(select(sa.func.count()).select_from(Item)).one()
        entries = list(session.exec(select(LedgerEntry).where(LedgerEntry.entry_type == EntryType.PUBLICATION,
                                                              LedgerEntry.source == "pipeline")))
        doubted = session.exec(select(sa.func.count(sa.distinct(Attempt.delivery_id))).join(
            Delivery, Delivery.id == Attempt.delivery_id).where(
            Delivery.channel == "wechat", Attempt.outcome.in_(["unknown", "lookup_failed"]))).one()
    status = Counter(str(d.status) for d in deliveries)
    expected = [d for d in deliveries if d.status != DeliveryStatus.CANCELLED]
    confirmed = {d.idempotency_key for d in deliveries if d.status in (DeliveryStatus.PUBLISHED,
                                                                      DeliveryStatus.WITHDRAWN)}
    duplicates = sum(n - 1 for n in chaos.sink.accepted_posts().values() if n > 1)
    held = chaos.sink.accepted()  # every webhook-id the receiver committed (answered or dropped)
    unrecorded = held - confirmed  # the channel has it, the ledger does not
    articles = Counter(a.news[0]["content_source_url"] for a in chaos.wechat.articles.values())
    duplicates += sum(n - 1 for n in articles.values() if n > 1)
    wechat = [d for d in deliveries if d.channel == "wechat"]
    explain_twice(chaos, [url for url, n in articles.items() if n > 1])
    recorded = {d.remote_id for d in wechat if d.status in (DeliveryStatus.PUBLISHED, DeliveryStatus.WITHDRAWN)}
    unrecorded |= set(chaos.wechat.articles) - recorded
    held |= {d.idempotency_key for d in wechat if d.remote_id in chaos.wechat.articles}
    lost = [d for d in expected if d.status not in ("published", "withdrawn", "dead")
            or (d.idempotency_key in confirmed and d.idempotency_key not in held)]
    reasons = Counter((d.last_error or "?").split(":", 1)[-1].strip().replace("|", "/")[:60] for d in deliveries
                      if d.status == DeliveryStatus.DEAD)
    ledger_ok = len(entries) == len(confirmed) == len({e.delivery_id for e in entries})
    restarts, recoveries = len(chaos.pg_down), chaos.cluster.log_count(RECOVERY)
    died = chaos.exited + [f"worker{n}" for n, w in enumerate(chaos.workers) if w.poll() is not None]
    died += ["beat"] if chaos.beat.poll() is not None else []
    checks = {"duplicates seen by channels": duplicates == 0, "accepted but not recorded": not unrecorded,
              "ledger = confirmed publications": ledger_ok, "lost": not lost, "settled": settled,
              "a crash recovery per postgres restart": recoveries == restarts,
              "workers and beat still running": not died}
    rows = [
        ("chaos workload (s)", f"{workload:.0f}"),
        ("faults", ", ".join(f"{k} x{v}" for k, v in sorted(chaos.faults.items()))),
        ("PostgreSQL restarts (immediate shutdown = crash)", f"{restarts}, down {_span(chaos.pg_down)} s each, "
                                                             f"crash recoveries in its log: {recoveries}"),
        ("workload steps cut short by a restart", chaos.counts["steps cut by postgres"]),
        ("workload steps failed on another database error", ", ".join(f"{k} x{v}" for k, v in
                                                                     chaos.step_errors.items()) or 0),
        ("deadlocks in the PostgreSQL log", chaos.cluster.log_count("deadlock detected")),
        ("workers or beat that exited on their own (must be 0)", ", ".join(died) or 0),
        ("receiver verdicts", ", ".join(f"{k} {v}" for k, v in sorted(chaos.sink.verdicts().items()))),
        ("items submitted / approved / withdrawn before due", f"{submitted} / {approved} / "
                                                                f"{chaos.counts['withdrawn']}"),
        ("WeChat: jobs / articles / freepublish/get calls", f"{len(chaos.wechat.jobs)} / {len(articles)} / "
                                                             f"{len(chaos.wechat.requests_to('freepublish/get'))}"),
        ("WeChat deliveries in doubt on the way (unknown or a failed lookup)", doubted),
        ("unknown outcomes a person was asked about (must be 0)", status["unknown"]),
        ("deliveries (3 webhook channels and WeChat per item)", f"{len(deliveries)}: "
                                                     + ", ".join(f"{k} {v}" for k, v in sorted(status.items()))),
        ("deliveries expected (not cancelled)", len(expected)),
        ("published", len(confirmed)),
        ("dead-lettered", status["dead"]),
        *[(f"  dead: {reason}", n) for reason, n in reasons.most_common()],
        ("dead letters replayed", chaos.counts["dead letters replayed"]),
        ("duplicates seen by channels (must be 0)", duplicates),
        ("accepted by channels, not recorded (must be 0)", len(unrecorded)),
        ("ledger entries vs confirmed publications", f"{len(entries)} vs {len(confirmed)}"),
        ("lost (must be 0)", len(lost)),
        ("invariants", "all hold" if all(checks.values()) else
         "FAILED: " + ", ".join(k for k, ok in checks.items() if not ok)),
    ]
    print_table("chaos run", ["", "value"], rows)
    return 0 if all(checks.values()) else 1


def explain_twice(chaos: Chaos, urls: list[str]) -> None:
    """For each page WeChat published twice: its delivery's tries, to stderr."""
    with session_scope(chaos.engine) as session:
        for url in urls[:10]:
            item_id = int(url.rsplit("art_", 1)[-1].split(".")[0]) if "art_" in url else None
            rows = session.exec(select(Attempt.outcome, Attempt.started_at, Attempt.detail).join(
                Delivery, Delivery.id == Attempt.delivery_id).where(
                Delivery.item_id == item_id, Delivery.channel == "wechat").order_by(Attempt.id)).all()
            print(f"published twice at WeChat: {url}", file=sys.stderr)
            for outcome, started, detail in rows:
                print(f"  {started:%H:%M:%S.%f} {outcome}: {detail[:200]}", file=sys.stderr)


def _span(values: list[float]) -> str:
    return f"{min(values):.1f}-{max(values):.1f}" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the chaos phase (default 5)")
    parser.add_argument("--smoke", action="store_true", help="CI: about 45 s of chaos")
    parser.add_argument("--seed", type=int, default=20261126, help="seed of the faults and the workload")
    parser.add_argument("--logs", type=Path, help="copy the run's logs (workers, beat, redis, PostgreSQL) there")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # SIGTERM, like Ctrl-C, runs the cleanup below
    print_machine()
    sys.exit(run(0.75 if args.smoke else args.minutes, args.seed, args.logs))


if __name__ == "__main__":
    main()
