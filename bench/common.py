"""What the benchmarks share: the machine's facts, a private redis-server, a PostgreSQL database of their own,
the loopback webhook sink in its own process, worker processes, approved items, and printed tables.

Every process and database a script starts is stopped or dropped when it ends, whatever happened. The
shared Redis on 6379 is never touched: each run starts its own redis-server on a free port.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
EXAMPLE = ROOT / "pipeline" / "cli" / "gongkai.example.toml"
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
HOOKS = ("hook_a", "hook_b", "hook_c")
SECRET = "whsec_" + base64.b64encode(b"gongkai-benchmark-signing-key!!").decode()
REVIEWERS = ("lisi", "wangwu", "zhaoliu")  # the default three review levels, in order
LEVEL_OF = {"lisi": "处室审核", "wangwu": "保密审查", "zhaoliu": "办公室审发"}
# the benchmark's people: they act through their Actor, as a logged-in person would; qianqi also runs the
# commands a benchmark starts as a process, logged in with BENCH_PASSWORD (cli_token)
PEOPLE = {"root": ["admin"], "zhangsan": ["author"], "lisi": ["section_head"], "wangwu": ["secrecy_officer"],
          "zhaoliu": ["office_director"], "qianqi": ["operator", "disclosure_office"]}
BENCH_PASSWORD = "a benchmark's passphrase"
BARE = "bench.post"  # the baseline's task (bench/bare_app.py)
WORKER_FLAGS = ["-l", "WARNING", "--without-mingle", "--without-gossip"]  # as `gongkai worker` runs it


# --- facts and tables ------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    """nproc, memory, CPU model, load, and the versions a result depends on."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()[1].split()[1]
    versions = {name: _version(name) for name in ("celery", "kombu", "redis", "sqlalchemy", "psycopg", "requests")}
    redis_server = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
    with _admin() as engine, engine.connect() as connection:
        pg = connection.exec_driver_sql("show server_version").scalar()
    return {"nproc": str(os.cpu_count()), "memory": mem, "cpu": cpu, "python": platform.python_version(),
            **versions, "redis-server": redis_server[2].removeprefix("v="), "postgresql": str(pg),
            "load (1/5/15 min)": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def print_machine() -> None:
    """Print the machine's facts; and from now on SIGTERM ends the script through its `finally` blocks (which
    stop every process and drop every database it started), as Ctrl-C does."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    facts = machine()
    print("machine: " + "; ".join(f"{k} {v}" for k, v in facts.items()))


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A Markdown table (pastes straight into BENCHMARKS.md)."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print(f"\n{title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    sys.stdout.flush()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"
    return str(value)


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(share * len(ordered) + 0.5)) - 1))]


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- processes -------------------------------------------------------------------------------------------


def stop(popen: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    """SIGTERM the process group this script started (warm shutdown), SIGKILL it if it lingers."""
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGTERM)
        try:
            popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(timeout=10)


class RedisServer:
    """A private redis-server on a free loopback port, configured as in production (AOF everysec, noeviction)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RedisServer:
        with open(self.directory / "redis.log", "wb") as log:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--appendonly", "yes",
                 "--appendfsync", "everysec", "--save", "", "--dir", str(self.directory),
                 "--maxmemory-policy", "noeviction"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        wait_for(lambda: _pings(client), timeout=20, what=f"redis-server on port {self.port}")
        client.close()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop(self.process, grace=5)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

    def idle(self) -> bool:
        client = self.client()
        try:
            return client.llen("celery") == 0 and client.hlen("unacked") == 0
        finally:
            client.close()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.BusyLoadingError):
        return False


class SinkProcess:
    """tests/integration/sink.py's Standard Webhooks receiver, in a process of its own (bench/sink_server.py)."""

    def __init__(self, directory: Path, latency_ms: float = 0.0) -> None:
        self.port = free_port()
        self.latency_ms = latency_ms
        self.log = directory / "sink.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SinkProcess:
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([sys.executable, str(BENCH / "sink_server.py"), str(self.port), SECRET,
                                             str(self.latency_ms)],
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._answers, timeout=20, what="the sink")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop(self.process, grace=5)

    def url(self, channel: str) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{channel}"

    def _answers(self) -> bool:
        try:
            self.stats()
        except OSError:
            return False
        return True

    def stats(self) -> dict[str, Any]:
        """posts, accepted, verdicts, first/last arrival (time.time()) and all arrivals when asked."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as response:
            return json.loads(response.read())

    def arrivals(self) -> list[float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/arrivals", timeout=30) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


def start_celery(app: str, config: Path, directory: Path, name: str, *, pool: str = "threads",
                 concurrency: int = 16, prefetch: int | None = None) -> subprocess.Popen[bytes]:
    """`celery -A <app> worker` as `gongkai worker` runs it; --prefetch-multiplier overrides worker.py's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_")}
    env.update(GONGKAI_CONFIG=str(config), PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(BENCH), str(ROOT), env.get("PYTHONPATH", "")])))
    argv = [sys.executable, "-m", "celery", "-A", app, "worker", "-P", pool, "-c", str(concurrency),
            "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h", *WORKER_FLAGS]
    if prefetch is not None:
        argv += ["--prefetch-multiplier", str(prefetch)]
    with open(directory / f"{name}.log", "ab") as log:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


# --- the database and the configuration ------------------------------------------------------------------


@contextlib.contextmanager
def _admin() -> Iterator[sa.Engine]:
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        yield engine
    finally:
        engine.dispose()


@contextlib.contextmanager
def database(prefix: str) -> Iterator[str]:
    """A new PostgreSQL database for this run (gongkai_bench_<prefix>_<random>), dropped at the end."""
    name = f"gongkai_bench_{prefix}_{uuid.uuid4().hex[:8]}"
    with _admin() as engine, engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield str(sa.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False))
    finally:
        with _admin() as engine, engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_config(directory: Path, *, db_url: str, broker_url: str = "", sink: SinkProcess | None = None,
                 queue: dict[str, Any] | None = None, extra: str = "") -> Path:
    """The example configuration with this run's database and broker; with a sink, three webhook channels
    that every item goes to (as tests/integration/harness.py builds it)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    settings = {"broker_url": broker_url, **(queue or {})}
    replacements = {
        'url = "sqlite:///gongkai.db"': f'url = "{db_url}"',
        'broker_url = ""': "\n".join(f"{key} = {_toml(value)}" for key, value in settings.items()),
        'output_dir = "site/': f'output_dir = "{directory}/site/',
    }
    if sink is not None:
        names = ", ".join(f'"{n}"' for n in HOOKS)
        replacements['channels = ["portal", "disclosure"]'] = (f'channels = ["portal", "disclosure", {names}]\n'
                                                               f"default_channels = [{names}]")
    for old, new in replacements.items():
        if old not in text:
            raise RuntimeError(f"the example configuration no longer has {old!r}")
        text = text.replace(old, new)
    if sink is not None:
        for name in HOOKS:
            section = {"kind": "webhook", "url": sink.url(name), "secret": SECRET, "timeout": 5.0}
            text += f"\n[channels.{name}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in section.items())
    path = directory / "gongkai.toml"
    path.write_text(text + extra, encoding="utf-8")
    from pipeline.core.audit_key import create_key_file

    create_key_file(directory / "audit.key")  # what gongkai init does
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str | list) else str(value)


@dataclass
class Platform:
    """A migrated database with its configuration, as `gongkai init` leaves it."""

    config: Path
    settings: Any
    engine: sa.Engine


def make_platform(config: Path) -> Platform:
    from pipeline.core.agencies import sync_agencies
    from pipeline.core.audit_key import keyed_engine
    from pipeline.core.clock import utcnow
    from pipeline.core.config import load_settings
    from pipeline.core.db import migrate, session_scope
    from pipeline.records.people import add_person

    settings = load_settings(config)
    engine = keyed_engine(settings)
    migrate(engine)
    with session_scope(engine) as session:
        sync_agencies(session, settings=settings)
    with session_scope(engine) as session:
        admin = None
        for login, roles in PEOPLE.items():
            add_person(session, actor=admin, login=login, name=login, agency_code="tjj", roles=roles,
                       settings=settings, now=utcnow(), password=BENCH_PASSWORD if login == "qianqi" else None)
            session.flush()
            admin = admin or acting(session, login)
    return Platform(config, settings, engine)


def cli_token(config: Path, login: str = "qianqi") -> str:
    """A login token (for GONGKAI_TOKEN) of the person who runs a benchmark's gongkai commands."""
    from pipeline.core.audit_key import keyed_engine
    from pipeline.core.clock import utcnow
    from pipeline.core.config import load_settings
    from pipeline.core.db import session_scope
    from pipeline.records.authentication import log_in

    settings = load_settings(config)
    engine = keyed_engine(settings)
    with session_scope(engine) as session:
        result = log_in(session, login=login, password=BENCH_PASSWORD, now=utcnow(), label="cli", settings=settings)
    engine.dispose()
    if result.token is None:
        raise RuntimeError(f"{login} could not log in: {result.refused}")
    return result.token


def acting(session: Any, login: str) -> Any:
    """The Actor of one of the benchmark's people."""
    from pipeline.records.people import actor_for, find_person

    return actor_for(session, find_person(session, login))


BODY = ("## 一、总体情况\n\n2026年1-3月，全市规模以上工业增加值同比增长6.1%，高于全省平均水平0.4个百分点。"
        "其中，高新技术产业增加值增长8.2%，占规模以上工业的比重为65.3%。\n\n"
        "## 二、主要指标\n\n| 指标 | 数值 | 同比 |\n|---|---|---|\n| 工业增加值 | 512.3亿元 | 6.1% |\n"
        "| 固定资产投资 | 1203.4亿元 | 4.5% |\n\n**附注**：数据来源于统计联网直报平台。\n")


def submit_items(p: Platform, count: int, *, batch: int = 250) -> list[int]:
    """Submit `count` items (a statistical bulletin of ~400 characters each) as the author; none reviewed."""
    from datetime import date

    from pipeline.core.db import session_scope
    from pipeline.items import workflow
    from pipeline.items.itemfile import ItemRecord, ItemSpec

    ids: list[int] = []
    for start in range(0, count, batch):
        records = [ItemRecord("bench.md", 1, ItemSpec(title=f"2026年第{start + i + 1}期统计信息", category="通知公告",
                                                     kind="notice", created_on=date(2026, 3, 1)), BODY, {})
                   for i in range(min(batch, count - start))]
        with session_scope(p.engine) as session:
            done = workflow.submit_items(session, settings=p.settings, agency_code="tjj",
                                         actor=acting(session, "zhangsan"), records=records)
        ids += [d.item_id for d in done]
    return ids


def review(p: Platform, item_ids: Sequence[int], reviewers: Sequence[str], *, batch: int = 250) -> None:
    """Pass review levels for many items, one transaction per level and batch (the last approves)."""
    from pipeline.core.db import session_scope
    from pipeline.core.models import Decision
    from pipeline.items import workflow

    for reviewer in reviewers:
        for start in range(0, len(item_ids), batch):
            with session_scope(p.engine) as session:
                for item_id in item_ids[start:start + batch]:
                    workflow.review_item(session, settings=p.settings, agency_code="tjj", item_id=item_id,
                                         actor=acting(session, reviewer), decision=Decision.APPROVE,
                                         level=LEVEL_OF[reviewer], revision=1,
                                         late_reason="基准测试样例")  # formed 1 March: past 第二十六条's deadline


def approve_items(p: Platform, count: int) -> list[int]:
    """`count` items through submission and the three review levels: 3 pending deliveries each, not enqueued."""
    ids = submit_items(p, count)
    review(p, ids, REVIEWERS)
    return ids


def pending_deliveries(p: Platform) -> list[int]:
    from sqlmodel import select

    from pipeline.core.db import session_scope
    from pipeline.core.models import Delivery, DeliveryStatus

    with session_scope(p.engine) as session:
        return list(session.exec(select(Delivery.id).where(Delivery.status == DeliveryStatus.PENDING,
                                                          Delivery.enqueued_at.is_(None)).order_by(Delivery.id)))


def pending_by_item(p: Platform) -> list[list[int]]:
    """The pending deliveries grouped by item, as each approval enqueues them (one message per item)."""
    with p.engine.connect() as connection:
        rows = connection.exec_driver_sql("select item_id, id from delivery where status = 'pending' and "
                                          "enqueued_at is null order by item_id, id").all()
    groups: dict[int, list[int]] = {}
    for item_id, delivery_id in rows:
        groups.setdefault(item_id, []).append(delivery_id)
    return list(groups.values())


def published_count(p: Platform) -> int:
    with p.engine.connect() as connection:
        return connection.exec_driver_sql("select count(*) from delivery where status = 'published'").scalar_one()


def rss_mb(pid: int) -> float:
    """Resident set size of one process, from /proc (no psutil in the project's environment)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed_items(p: Platform, first: int, count: int, *, status: str = "pending") -> list[int]:
    """Items first..first+count-1 approved as the workflow leaves them (in bulk, with SQL), with a delivery per
    webhook channel in `status` (pending: due now, not enqueued); returns the delivery ids."""
    from pipeline.items.compose import submitted_html

    agency = p.settings.agencies["tjj"]
    channels = "[" + ", ".join(f'"{h}"' for h in HOOKS) + "]"
    with p.engine.begin() as c:
        agency_id = c.exec_driver_sql("SELECT id FROM agency WHERE code = 'tjj'").scalar_one()
        params = {"first": first, "last": first + count - 1, "agency": agency_id, "org": agency.org_code,
                  "publisher": agency.display_publisher, "body": BODY, "channels": channels,
                  "html": submitted_html(first, BODY, {})}  # as submission stores it (no images: alike for all)
        c.exec_driver_sql("""
            INSERT INTO item (id, agency_id, author, status, current_level, current_revision, approved_revision,
                              index_no, created_at, updated_at)
            SELECT n, %(agency)s, 'zhangsan', 'approved', 2, 1, 1, %(org)s::text || '/2025-' || lpad(n::text, 6, '0'),
                   now(), now()
            FROM generate_series(%(first)s::int, %(last)s::int) n""", params)
        c.exec_driver_sql("""
            INSERT INTO item_revision (item_id, number, title, category, kind, channels, publisher, created_on,
                                       summary, body, body_html, images, source, content_hash, submitted_by,
                                       submitted_at)
            SELECT n, 1, '2026年第' || n || '期统计信息', '通知公告', 'notice', %(channels)s::json, %(publisher)s,
                   '2026-03-01', '', %(body)s, %(html)s, '{}', 'bench.md:1', md5(n::text), 'zhangsan', now()
            FROM generate_series(%(first)s::int, %(last)s::int) n""", params)
        ids = c.exec_driver_sql("""
            INSERT INTO delivery (item_id, revision, channel, status, attempts, next_attempt_at, idempotency_key,
                                  created_at, updated_at)
            SELECT n, 1, h, %(status)s, 0, now(), n || ':1:' || h, now(), now()
            FROM generate_series(%(first)s::int, %(last)s::int) n, unnest(%(hooks)s::text[]) h
            ORDER BY n, h RETURNING id""", params | {"hooks": list(HOOKS), "status": status}).scalars().all()
        c.exec_driver_sql("SELECT setval(pg_get_serial_sequence('item', 'id'), %(last)s::int)", params)
    return list(ids)
